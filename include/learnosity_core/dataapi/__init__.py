"""Learnosity Data API client (no Airflow): signed with the official SDK, paced, retried, typed."""

from learnosity_core.dataapi.async_client import AsyncDataApiClient
from learnosity_core.dataapi.client import DataApiClient
from learnosity_core.dataapi.errors import (
    AuthenticationError,
    BatchSizeError,
    DataApiError,
    DataApiValidationError,
    RateLimitedError,
    TransientError,
)
from learnosity_core.dataapi.models import Job, JobStatus, SessionRecord, SessionResponse
from learnosity_core.dataapi.settings import (
    DEFAULT_BASE_URL,
    DEFAULT_DOMAIN,
    DEFAULT_LTS_VERSION,
    DataApiSettings,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_DOMAIN",
    "DEFAULT_LTS_VERSION",
    "AsyncDataApiClient",
    "AuthenticationError",
    "BatchSizeError",
    "DataApiClient",
    "DataApiError",
    "DataApiSettings",
    "DataApiValidationError",
    "Job",
    "JobStatus",
    "RateLimitedError",
    "SessionRecord",
    "SessionResponse",
    "TransientError",
]
