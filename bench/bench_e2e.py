"""`make bench-e2e`: submission throughput against the emulator at the real rate limit.

100,000 sessions (BENCH_SESSIONS) are staged as batches of 50 and sent by PARALLEL shard
processes, each with its share of the 50-SET-requests-per-5-s limit, exactly as the DAG's mapped
submit tasks do, to an emulator answering every SET after 300 ms. In the same run a naive
sequential loop over the SDK's `DataApi.request` sends a sample of the same batches; its rate is
extrapolated. The last line reads:
`end-to-end: N sessions/min = P% of ceiling (30,000/min), R× naive`.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from learnosity_core.dataapi import DataApiClient, DataApiSettings
from learnosity_core.dataapi.limits import (
    MAX_SESSIONS_PER_SET,
    RATE_WINDOW_S,
    SET_REQUESTS_PER_WINDOW,
    set_rate_share,
)
from learnosity_core.delivery.batching import Batcher
from learnosity_core.delivery.ledger import Ledger, SessionEntry
from learnosity_core.delivery.staging import Shard, write_template
from learnosity_core.delivery.submission import submit_shard
from learnosity_devtools.emulator.process import emulator_process

SESSIONS = int(os.environ.get("BENCH_SESSIONS", "100000"))
NAIVE_REQUESTS = int(os.environ.get("BENCH_NAIVE_REQUESTS", "40"))
PARALLEL = int(os.environ.get("BENCH_PARALLEL", "4"))
LIMIT, WINDOW, LATENCY = SET_REQUESTS_PER_WINDOW, RATE_WINDOW_S, 0.3
CEILING_PER_MIN = LIMIT * MAX_SESSIONS_PER_SET * 60 / WINDOW  # 30,000 sessions per minute
KEY, SECRET = "benchconsumer001", "bench-secret"
ACTIVITY = "bench-activity"
TEMPLATE = {
    "activity_template_id": ACTIVITY,
    "items": [
        {
            "reference": "bench-item",
            "questions": [
                {"id": "q-short", "type": "shorttext"},
                {"id": "q-mcq", "type": "mcq", "options": [{"value": "0"}, {"value": "1"}, {"value": "2"}]},
            ],
        }
    ],
}


def _entry(n: int) -> tuple[str, str]:
    session_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench/{n}"))
    entry = {
        "user_id": f"bench-user-{n}",
        "activity_id": ACTIVITY,
        "session_id": session_id,
        "responses": [
            {"question_id": "q-short", "type": "string", "value": "makka+pakka", "characterCount": 11},
            {"question_id": "q-mcq", "type": "array", "value": [str(n % 3)]},
        ],
    }
    return session_id, json.dumps(entry, separators=(",", ":"))


def _settings(url: str, share: int) -> DataApiSettings:
    return DataApiSettings(
        base_url=url, consumer_key=KEY, consumer_secret=SECRET, set_requests_per_window=share, window_s=WINDOW
    )


def _run_shard(args: tuple[str, str, str]) -> int:
    url, ledger_url, shard_json = args
    shard = Shard.model_validate_json(shard_json)
    client = DataApiClient(_settings(url, set_rate_share(PARALLEL)))
    result = submit_shard(client, Ledger.from_url(ledger_url), Path(shard.stage), shard, concurrency=4)
    return result.sessions


def _stage(stage: Path, ledger: Ledger) -> list[Shard]:
    """The plan's staging, as the DAG does it: batches of 50 in the ledger, spread over shards."""
    write_template(stage, ACTIVITY, TEMPLATE)
    batcher = Batcher(stage, ledger, "bench_e2e", "bench", "from_template", MAX_SESSIONS_PER_SET)
    for n in range(SESSIONS):
        session_id, entry = _entry(n)
        batcher.add(ACTIVITY, SessionEntry(session_id, "h"), entry)
    return batcher.finish(PARALLEL)


def _naive(url: str, names: list[str], stage: Path) -> float:
    """Sessions per minute of a sequential loop over the SDK's own DataApi.request."""
    from learnosity_sdk.request import DataApi

    api = DataApi()
    security = {"consumer_key": KEY, "domain": "localhost"}
    sent = 0
    started = time.monotonic()
    for name in names[:NAIVE_REQUESTS]:
        batch = json.loads((stage / "batches" / name).read_text())
        request = {"data_format": "from_template", "template": TEMPLATE, "data": batch["entries"]}
        response = api.request(f"{url}/v2025.2.LTS/sessions", security, SECRET, request, "set")
        response.raise_for_status()
        sent += len(batch["entries"])
    return sent / (time.monotonic() - started) * 60


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    with emulator_process(
        work / "emulator.db",
        KEY,
        SECRET,
        set_limit=str(LIMIT),
        window_s=str(WINDOW),
        job_delay_s="0.05",
        faults=json.dumps({"set_latency_s": LATENCY}),
    ) as url:
        ledger_url = f"sqlite:///{work / 'ledger.db'}"
        shards = _stage(work, Ledger.from_url(ledger_url))
        batches = sum(s.batches for s in shards)
        print(f"staged {SESSIONS} sessions in {batches} batches; {PARALLEL} shard processes", flush=True)
        started = time.monotonic()
        with multiprocessing.get_context("spawn").Pool(PARALLEL) as pool:
            sent = sum(pool.map(_run_shard, [(url, ledger_url, s.model_dump_json()) for s in shards]))
        elapsed = time.monotonic() - started
        rate = sent / elapsed * 60
        stats = httpx.get(f"{url}/_emulator/stats", timeout=10).json()
        answered_429 = stats["statuses"].get("429", 0)
        print(
            f"sent {sent} sessions in {elapsed:.1f} s; emulator answered 429 {answered_429} times", flush=True
        )
        print(f"emulator request counts: {json.dumps(stats['requests'])}", flush=True)
        names = sorted(p.name for p in (work / "batches").iterdir())
        naive = _naive(url, names, work)
        print(f"naive sequential DataApi.request: {naive:,.0f} sessions/min over {NAIVE_REQUESTS} requests")
        print(
            f"end-to-end: {rate:,.0f} sessions/min = {100 * rate / CEILING_PER_MIN:.1f}% of ceiling "
            f"({CEILING_PER_MIN:,.0f}/min), {rate / naive:.1f}× naive"
        )


if __name__ == "__main__":
    main()
