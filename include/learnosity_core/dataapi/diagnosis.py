"""Which setting a refused or failed request points at, so that every failure names what to fix."""

from __future__ import annotations

from learnosity_core.dataapi.errors import (
    AuthenticationError,
    DataApiError,
    RateLimitedError,
    TransientError,
)

_KEY_AND_SECRET = "consumer key (login) / consumer secret (password)"
_VERSION = "LTS version (extra `lts_version`)"
# Data API code -> (what to check, whether it is a setting of the Learnosity connection).
_BY_CODE: dict[int, tuple[str, bool]] = {
    41000: (f"{_KEY_AND_SECRET}: the request reached Learnosity without its security packet", True),
    41001: (_KEY_AND_SECRET, True),
    41002: ("consumer key (login)", True),
    41003: (_KEY_AND_SECRET, True),
    41004: ("clock of this machine: the signed timestamp is out of Learnosity's range", False),
    41005: ("domain (extra `domain`)", True),
    41006: ("clock of this machine: the signature's expiry", False),
    41007: ("clock of this machine: the signature's expiry", False),
    41008: ("consumer's services at Learnosity: ask Learnosity support to enable the Data API", False),
    41009: ("consumer at Learnosity: it is inactive; ask Learnosity support", False),
    40000: ("consumer's rights at Learnosity: ask Learnosity support for Data API access", False),
    40003: ("consumer's rights at Learnosity: it may be read-only for this organisation", False),
    42001: (f"{_VERSION}: this endpoint is no longer available in it", True),
    43000: (f"{_VERSION}: it is lower than the consumer's minimum", True),
    20012: (f"host (the Data API base URL) or {_VERSION}", True),
}


def setting_to_fix(exc: BaseException, conn_id: str) -> str | None:
    """The connection setting (or outside cause) behind `exc`, or None when it is not a setting."""
    if not isinstance(exc, DataApiError):
        return None
    where = f" of connection {conn_id}"
    if exc.code in _BY_CODE:
        text, of_connection = _BY_CODE[exc.code]
        if not of_connection:
            return text
        setting, _, detail = text.partition(": ")
        return f"{setting}{where}: {detail}" if detail else setting + where
    if isinstance(exc, AuthenticationError):
        return _KEY_AND_SECRET + where
    if exc.http_status == 404:
        return f"host (the Data API base URL) or {_VERSION}{where}"
    if isinstance(exc, TransientError) and exc.http_status is None:
        return f"host (the Data API base URL){where}: it could not be reached"
    if isinstance(exc, RateLimitedError):
        return "number of processes sharing the consumer key (Variable learnosity_parallel_shards)"
    return None


def explain(exc: BaseException, conn_id: str) -> str:
    """The error with the setting to fix appended, for task failures and the first-contact check."""
    setting = setting_to_fix(exc, conn_id)
    return f"{exc}; check the {setting}" if setting else str(exc)
