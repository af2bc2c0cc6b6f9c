"""Emulator settings, from code or from `EMULATOR_*` environment variables (the CLI)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from learnosity_devtools.emulator.faults import Faults

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_DB = ".demo/emulator.db"
DEFAULT_CONSUMER_KEY = "emulatordemokey1"
DEFAULT_CONSUMER_SECRET = "emulator-demo-secret"  # public demo credential, like Learnosity's demo key


class EmulatorConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    host: str = DEFAULT_HOST
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535, description="0 picks a free port")
    db_path: Path = Path(DEFAULT_DB)
    consumers: dict[str, SecretStr] = Field(
        default_factory=lambda: {DEFAULT_CONSUMER_KEY: SecretStr(DEFAULT_CONSUMER_SECRET)}
    )
    job_delay_s: float = Field(default=1.0, ge=0.0, description="time from job creation to completion")
    set_limit: int = Field(default=50, ge=1, description="SET /sessions requests per consumer per window")
    get_limit: int = Field(default=1000, ge=1, description="other requests per consumer, action and path")
    window_s: float = Field(default=5.0, gt=0.0, description="rate-limit sliding window")
    timestamp_window_s: float = Field(default=900.0, ge=0.0, description="allowed security timestamp skew")
    faults: Faults = Field(default_factory=Faults, description="faults active from the start")
    entry_checks: Literal["job", "request"] = Field(
        default="job",
        description="where a SET's invalid entries are refused: `job` (stored ones go through, the"
        " others are left out of the job) or `request` (HTTP 400, code 20009, naming each entry and"
        " why, nothing stored); Learnosity's docs do not say which it does",
    )
    job_detail: bool = Field(
        default=False,
        description="jobs answer `data` with sessions_stored, errors and halt_reason (an emulator"
        " extension); off: the documented minimal answer, so a refused session shows only on read-back",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EmulatorConfig:
        """The CLI's settings: `EMULATOR_*` variables over the documented defaults."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {
            "host": env.get("EMULATOR_HOST", DEFAULT_HOST),
            "port": env.get("EMULATOR_PORT", str(DEFAULT_PORT)),
            "db_path": env.get("EMULATOR_DB", DEFAULT_DB),
            "consumers": {
                env.get("EMULATOR_CONSUMER_KEY", DEFAULT_CONSUMER_KEY): env.get(
                    "EMULATOR_CONSUMER_SECRET", DEFAULT_CONSUMER_SECRET
                )
            },
        }
        optional = {
            "job_delay_s": "EMULATOR_JOB_DELAY_S",
            "set_limit": "EMULATOR_SET_LIMIT",
            "get_limit": "EMULATOR_GET_LIMIT",
            "window_s": "EMULATOR_WINDOW_S",
            "timestamp_window_s": "EMULATOR_TIMESTAMP_WINDOW_S",
            "job_detail": "EMULATOR_JOB_DETAIL",
            "entry_checks": "EMULATOR_ENTRY_CHECKS",
        }
        values.update({field: env[name] for field, name in optional.items() if env.get(name)})
        if env.get("EMULATOR_FAULTS"):
            values["faults"] = Faults.model_validate(json.loads(env["EMULATOR_FAULTS"]))
        return cls.model_validate(values)
