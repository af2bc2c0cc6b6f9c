"""The emulator as a separate process on a free loopback port, for the demo and the benchmarks.

A separate process keeps its request threads off the caller's GIL, as a real Data API would be.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def emulator_process(
    db_path: Path, consumer_key: str, consumer_secret: str, log_path: Path | None = None, **settings: str
) -> Iterator[str]:
    """Start `python -m learnosity_devtools.emulator`, wait until it answers, yield its URL, stop it.

    `settings` become `EMULATOR_<NAME>` variables, e.g. `job_delay_s="0.2"`.
    """
    port = free_port()
    env = {
        **os.environ,
        "EMULATOR_PORT": str(port),
        "EMULATOR_DB": str(db_path),
        "EMULATOR_CONSUMER_KEY": consumer_key,
        "EMULATOR_CONSUMER_SECRET": consumer_secret,
        **{f"EMULATOR_{name.upper()}": value for name, value in settings.items()},
    }
    log = log_path.open("wb") if log_path else None
    proc = subprocess.Popen(
        [sys.executable, "-m", "learnosity_devtools.emulator"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(url, proc, log_path)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if log is not None:
            log.close()


def _wait_until_healthy(
    url: str, proc: subprocess.Popen[bytes], log_path: Path | None, timeout: float = 20
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/_emulator/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the emulator did not start{f'; see {log_path}' if log_path else ''}")
