"""Cut the sessions a plan decided to send into request-sized batches, staged and in the ledger.

Both pipelines hand sessions one at a time; a batch never mixes groups (a `from_template` batch
shares its activity's template), is written as soon as it is full, and is recorded in the ledger
as staged in the same step, so what is on disk and what the ledger expects always agree.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection

from learnosity_core.dataapi.limits import MAX_SESSIONS_PER_SET
from learnosity_core.delivery.ledger import Ledger, SessionEntry
from learnosity_core.delivery.staging import (
    DataFormat,
    Shard,
    StagedBatch,
    StoragePath,
    assign_shards,
    safe_name,
    write_batch,
    write_session_json_batch,
    write_shards,
)


class Batcher:
    """Stages sessions in batches of at most `batch_size` per group, then spreads them over shards.

    An entry is a pre-serialised session JSON object (`from_template`) or a base64 blob
    (`failed_submission`); it is written as it is, never re-encoded.
    """

    def __init__(
        self,
        stage: StoragePath,
        ledger: Ledger,
        dag_id: str,
        run_id: str,
        data_format: DataFormat,
        batch_size: int = MAX_SESSIONS_PER_SET,
    ) -> None:
        if not 1 <= batch_size <= MAX_SESSIONS_PER_SET:
            raise ValueError(f"batch_size must be 1 to {MAX_SESSIONS_PER_SET}, got {batch_size}")
        self.stage = stage
        self.ledger = ledger
        self.dag_id = dag_id
        self.run_id = run_id
        self.data_format = data_format
        self.batch_size = batch_size
        self.sessions_per_batch: dict[str, int] = {}
        self.group_of_batch: dict[str, str] = {}
        self._pending: dict[str, list[tuple[SessionEntry, str]]] = defaultdict(list)
        self._numbers: Counter[str] = Counter()
        self._new: list[str] = []  # staged since `take_new`, in staging order

    def add(self, group: str, session: SessionEntry, entry: str) -> None:
        pending = self._pending[group]
        pending.append((session, entry))
        if len(pending) >= self.batch_size:
            self._flush(group)

    def _flush(self, group: str) -> None:
        pending = self._pending.pop(group, [])
        if not pending:
            return
        self._numbers[group] += 1
        # Unique in the ledger: run ids are unique only within their DAG.
        run = f"{safe_name(self.dag_id)}-{safe_name(self.run_id)}"
        batch_id = f"{run}-{safe_name(group)}-{self._numbers[group]:05d}"
        sessions = [session for session, _ in pending]
        session_ids = [s.session_id for s in sessions]
        entries = [entry for _, entry in pending]
        activity_id = group if self.data_format == "from_template" else None
        if activity_id is not None:
            name = write_session_json_batch(self.stage, batch_id, activity_id, session_ids, entries)
        else:
            batch = StagedBatch(
                batch_id=batch_id, data_format=self.data_format, session_ids=session_ids, entries=entries
            )
            name = write_batch(self.stage, batch)
        self.ledger.stage(
            self.dag_id,
            self.run_id,
            batch_id,
            sessions,
            data_format=self.data_format,
            activity_id=activity_id,
        )
        self.sessions_per_batch[name] = len(pending)
        self.group_of_batch[name] = group
        self._new.append(name)

    def take_new(self) -> list[str]:
        """The batches staged since the last call, in the order they were staged."""
        new, self._new = self._new, []
        return new

    def flush(self) -> None:
        """Stage what is still pending: the last, partly filled batch of each group."""
        for group in list(self._pending):
            self._flush(group)

    def finish(self, max_shards: int, sent: Collection[str] = ()) -> list[Shard]:
        """Stage what is still pending and write the shards the submit tasks map over. Batches
        already `sent` (while planning) come last in each shard, dealt out in turn: the submit
        tasks only resume them (and follow the jobs still open, the last ones sent, which every
        shard then shares), and the ones still to send are shared out first."""
        self.flush()
        self.ledger.refresh_statistics()
        names = sorted(self.sessions_per_batch)
        done = set(sent)
        resumed = [n for n in names if n in done]
        shards = assign_shards([n for n in names if n not in done], max_shards) or [
            [] for _ in range(min(max_shards, len(resumed)))
        ]
        for index, shard in enumerate(shards):
            shard += resumed[index :: len(shards)]
        return write_shards(
            self.stage, shards, self.sessions_per_batch, self.group_of_batch, (self.dag_id, self.run_id)
        )
