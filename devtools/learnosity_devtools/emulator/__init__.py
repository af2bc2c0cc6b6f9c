"""A strict local emulator of the Learnosity Data API endpoints this project uses.

`SET /sessions` (both data formats) with asynchronous jobs, `jobs`, `sessions/templates` and
`sessions/responses`, with Learnosity's signatures, error codes, rate limits and paging quirks,
plus injectable faults and restarts, persisted in SQLite. See `server.EmulatorServer`.
"""

from learnosity_devtools.emulator.config import EmulatorConfig
from learnosity_devtools.emulator.faults import Faults
from learnosity_devtools.emulator.server import EmulatorServer

__all__ = ["EmulatorConfig", "EmulatorServer", "Faults"]
