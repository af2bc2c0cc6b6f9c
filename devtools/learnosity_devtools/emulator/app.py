"""The emulator's state: settings, faults and counters for the process; store, job worker and rate
windows for each time it listens (a restart reopens the same SQLite file and resumes its jobs).
"""

from __future__ import annotations

from typing import Any

from learnosity_devtools.emulator.config import EmulatorConfig
from learnosity_devtools.emulator.envelope import format_dt
from learnosity_devtools.emulator.faults import FaultInjector
from learnosity_devtools.emulator.jobs import JobRunner
from learnosity_devtools.emulator.ratelimit import RateLimiter
from learnosity_devtools.emulator.stats import RequestStats
from learnosity_devtools.emulator.store import Store


class Emulator:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.faults = FaultInjector(config.faults)
        self.stats = RequestStats()
        self.store = Store(config.db_path)
        self.limiter = self._limiter()
        self.jobs = JobRunner(self.store)
        self.jobs.start()

    def _limiter(self) -> RateLimiter:
        return RateLimiter(self.config.window_s, self.config.set_limit, self.config.get_limit)

    def close(self) -> None:
        self.jobs.stop()
        self.store.close()

    def reopen(self) -> None:
        """What a restarted process would have: the same file, fresh rate windows, pending jobs resumed."""
        self.store = Store(self.config.db_path)
        self.limiter = self._limiter()
        self.jobs = JobRunner(self.store)
        self.jobs.start()

    def reset(self) -> None:
        """Forget every job, session and count; faults go back to the configured ones."""
        self.store.reset()
        self.stats.clear()
        self.limiter = self._limiter()
        self.faults.set(self.config.faults)

    def delete_session(self, session_id: str) -> bool:
        """Remove one stored session (a test clears what blocked a write); False when none was stored."""
        return self.store.delete_session(session_id)

    def stored_sessions(self) -> list[dict[str, Any]]:
        return [
            {
                "session_id": s.session_id,
                "user_id": s.user_id,
                "activity_id": s.activity_id,
                "writes": s.writes,
                "dt_saved": format_dt(s.saved_at),
                "responses": {r.response_id: r.response for r in s.responses},
            }
            for s in self.store.sessions()
        ]

    def stats_snapshot(self) -> dict[str, Any]:
        return {**self.stats.snapshot(), "jobs": self.store.job_counts()}
