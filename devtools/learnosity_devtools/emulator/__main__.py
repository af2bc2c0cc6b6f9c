"""`python -m learnosity_devtools.emulator`: serve in the foreground until SIGINT or SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from learnosity_devtools.emulator.config import EmulatorConfig
from learnosity_devtools.emulator.server import EmulatorServer


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = EmulatorConfig.from_env()
    stopping = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    server = EmulatorServer(config).start()
    keys = ", ".join(sorted(config.consumers))
    print(
        f"Learnosity Data API emulator on {server.url} (consumer key {keys}, db {config.db_path})", flush=True
    )
    try:
        stopping.wait()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
