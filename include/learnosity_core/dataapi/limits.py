"""The Data API's service limits, defined once: every batcher, poller, pacer and page uses these.

Sources: the two `sessions` set doc pages (50 sessions or blobs per request), the `jobs` and
`sessions/responses` references (1,000 references or ids per request, 50 records per page), and
the rate-limit notes (request starts per consumer in a sliding 5 s window).
"""

from __future__ import annotations

from typing import Final

MAX_SESSIONS_PER_SET: Final = 50
MAX_JOB_REFERENCES_PER_GET: Final = 1000
MAX_SESSION_IDS_PER_READ: Final = 1000
MAX_RESPONSES_PER_PAGE: Final = 50

SET_REQUESTS_PER_WINDOW: Final = 50
GET_REQUESTS_PER_WINDOW: Final = 1000
RATE_WINDOW_S: Final = 5.0


def set_rate_share(parallel_senders: int) -> int:
    """SET requests per window one of `parallel_senders` processes may start, so their sum stays
    within the consumer's limit (at least one each)."""
    return max(1, SET_REQUESTS_PER_WINDOW // max(1, parallel_senders))
