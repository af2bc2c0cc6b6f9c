"""Everything a Data API client needs to know about one consumer, validated once at the boundary."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from learnosity_core.dataapi.limits import GET_REQUESTS_PER_WINDOW, RATE_WINDOW_S, SET_REQUESTS_PER_WINDOW

DEFAULT_BASE_URL = "https://data.learnosity.com"
DEFAULT_LTS_VERSION = "v2025.2.LTS"
DEFAULT_DOMAIN = "localhost"


class DataApiSettings(BaseModel):
    """Connection, timeouts, rate-limit share and retry budget of one client.

    `set_requests_per_window` / `get_requests_per_window` are this process's share of the
    consumer's limit: parallel shard processes each get a fraction so their sum stays under it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    base_url: str = DEFAULT_BASE_URL
    consumer_key: str = Field(min_length=1)
    consumer_secret: SecretStr
    lts_version: str = Field(default=DEFAULT_LTS_VERSION, min_length=1)
    domain: str = Field(default=DEFAULT_DOMAIN, min_length=1)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    read_timeout_s: float = Field(default=60.0, gt=0)
    set_requests_per_window: int = Field(default=SET_REQUESTS_PER_WINDOW, ge=1)
    get_requests_per_window: int = Field(default=GET_REQUESTS_PER_WINDOW, ge=1)
    window_s: float = Field(default=RATE_WINDOW_S, gt=0)
    # Added to every paced window: client and server clocks see a request start at slightly
    # different moments, so pacing at exactly the limit would still draw the odd 429.
    window_margin_s: float = Field(default=0.1, ge=0)
    # A Redis URL (redis://host:port/db): the rate budget is then shared by every process of the
    # consumer (all workers, both DAGs) and each may use all of it. Unset: this process's own pacer,
    # and parallel senders split the limit into fixed shares.
    rate_limiter_url: SecretStr | None = None
    max_attempts: int = Field(default=6, ge=1)
    backoff_base_s: float = Field(default=0.5, gt=0)
    backoff_cap_s: float = Field(default=30.0, gt=0)

    @field_validator("base_url")
    @classmethod
    def _absolute_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"base_url must be an absolute http(s) URL, got {value!r}")
        return value.strip().rstrip("/")

    @field_validator("consumer_secret")
    @classmethod
    def _secret_present(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("consumer_secret must not be empty")
        return value

    def url(self, endpoint: str) -> str:
        """`{base}/{LTS}/{endpoint}`: the version segment is mandatory (unversioned paths 404)."""
        return f"{self.base_url}/{self.lts_version}/{endpoint.strip('/')}"
