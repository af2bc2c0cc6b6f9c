"""Request signatures, verified the way Learnosity verifies what its SDKs sign.

The pre-hash is `"_".join(security fields in SDK order + [request] + [action])` over the RAW
`request` form field: the SDKs sign the exact string they send (telemetry `meta.sdk`
included), and PHP, Node and Python serialise JSON differently, so re-serialising would break
valid signatures. Current SDKs send `$02$` + HMAC-SHA256 keyed by the secret; SDKs up to
learnosity-sdk-python 0.3.2 sent plain SHA-256 with the secret inside the pre-hash, after the
security fields — both are accepted, and for `get` the legacy form may omit the action.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from pydantic import SecretStr

from learnosity_devtools.emulator.envelope import (
    BAD_EXPIRES,
    BAD_SIGNATURE_LENGTH,
    EXPIRED,
    MISSING_SECURITY,
    SIGNATURE_MISMATCH,
    TIMESTAMP_OUT_OF_RANGE,
    UNKNOWN_CONSUMER,
    ApiError,
)

SECURITY_KEYS = ("consumer_key", "domain", "timestamp", "expires", "user_id")  # signing order
REQUIRED_KEYS = ("consumer_key", "timestamp", "signature")
HMAC_PREFIX = "$02$"
HMAC_LENGTH = len(HMAC_PREFIX) + 64
LEGACY_LENGTH = 64
_TIME = re.compile(r"^\d{8}-\d{4}$")


def hmac_signature(secret: str, security: Mapping[str, str], request: str | None, action: str | None) -> str:
    parts = [security[k] for k in SECURITY_KEYS if k in security]
    parts += [p for p in (request, action) if p is not None]
    digest = hmac.new(secret.encode("utf-8"), "_".join(parts).encode("utf-8"), hashlib.sha256).hexdigest()
    return HMAC_PREFIX + digest


def legacy_signatures(
    secret: str, security: Mapping[str, str], request: str | None, action: str | None
) -> set[str]:
    """Plain SHA-256 with the secret after the security fields; `get` may leave the action out."""
    base = [security[k] for k in SECURITY_KEYS if k in security] + [secret]
    base += [request] if request is not None else []
    variants = [[*base, action]] if action is not None else []
    if action in (None, "get"):
        variants.append(base)
    return {hashlib.sha256("_".join(v).encode("utf-8")).hexdigest() for v in variants}


def signature_matches(
    signature: str, secret: str, security: Mapping[str, str], request: str | None, action: str | None
) -> bool:
    if signature.startswith(HMAC_PREFIX):
        expected = {hmac_signature(secret, security, request, action)}
    else:
        expected = legacy_signatures(secret, security, request, action)
    given = signature.encode("utf-8")
    return any(hmac.compare_digest(given, e.encode("ascii")) for e in expected)


def parse_security_time(value: str) -> datetime | None:
    """`YYYYMMDD-HHMM` in UTC, or None when it is not in that form."""
    if not _TIME.match(value):
        return None
    try:
        return datetime.strptime(value, "%Y%m%d-%H%M").replace(tzinfo=UTC)
    except ValueError:
        return None


def _security_packet(raw: str | None) -> dict[str, str]:
    if not raw:
        raise ApiError(
            400, MISSING_SECURITY, "Missing security parameters. Check the following parameter(s): security"
        )
    try:
        packet = json.loads(raw)
    except ValueError:
        packet = None
    if not isinstance(packet, dict):
        raise ApiError(400, MISSING_SECURITY, "Missing security parameters: security must be a JSON object")
    missing = [k for k in REQUIRED_KEYS if not packet.get(k)]
    if missing:
        raise ApiError(
            400, MISSING_SECURITY, f"Missing security parameters. Check the following parameter(s): {missing}"
        )
    unknown = sorted(set(packet) - set(SECURITY_KEYS) - {"signature"})
    if unknown:
        raise ApiError(400, MISSING_SECURITY, f"Unknown security parameter(s): {unknown}")
    not_text = sorted(k for k, v in packet.items() if not isinstance(v, str))
    if not_text:
        raise ApiError(400, MISSING_SECURITY, f"Security parameter(s) must be strings: {not_text}")
    return packet


def verify(
    security: str | None,
    request: str | None,
    action: str | None,
    consumers: Mapping[str, SecretStr],
    *,
    now: datetime,
    timestamp_window_s: float,
) -> str:
    """The consumer key of a correctly signed, current request; otherwise `ApiError` (41xxx)."""
    packet = _security_packet(security)
    signature = packet["signature"]
    if len(signature) != (HMAC_LENGTH if signature.startswith(HMAC_PREFIX) else LEGACY_LENGTH):
        raise ApiError(403, BAD_SIGNATURE_LENGTH, "Invalid parameter length: signature is not a valid hash")
    consumer_key = packet["consumer_key"]
    secret = consumers.get(consumer_key)
    if secret is None:
        raise ApiError(403, UNKNOWN_CONSUMER, f"Consumer key {consumer_key!r} is not a valid consumer")
    if not signature_matches(signature, secret.get_secret_value(), packet, request, action):
        raise ApiError(
            403, SIGNATURE_MISMATCH, "Signatures do not match: check the secret and sign the request as sent"
        )
    timestamp = parse_security_time(packet["timestamp"])
    if timestamp is None or abs((now - timestamp).total_seconds()) > timestamp_window_s:
        raise ApiError(403, TIMESTAMP_OUT_OF_RANGE, "Timestamp out of valid range")
    if "expires" in packet:
        expires = parse_security_time(packet["expires"])
        if expires is None:
            raise ApiError(400, BAD_EXPIRES, "expires must be in the form YYYYMMDD-HHMM (UTC)")
        if now > expires:
            raise ApiError(400, EXPIRED, "The request was made after the security expires time")
    return consumer_key
