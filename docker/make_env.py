"""Write the local cluster's secrets into .env, each generated once and never overwritten.

`docker-compose.yml` holds no password or key: it refuses to start until `.env` has them. Run
`make secrets` (secrets only: add your real connections to .env yourself) or `make dev-env`
(secrets plus the demo's connections to the emulator and the demo warehouse, for
`docker compose --profile dev up`). Standard library only, so any python3 runs it.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
from pathlib import Path

EMULATOR_KEY = "emulatordemokey1"  # the emulator's demo consumer: never a Learnosity credential


def generated() -> dict[str, str]:
    """Fresh values for every secret the compose file requires."""
    return {
        "AIRFLOW_UID": str(os.getuid()) if hasattr(os, "getuid") else "50000",
        "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(48),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(48),
        "_AIRFLOW_WWW_USER_USERNAME": "admin",
        "_AIRFLOW_WWW_USER_PASSWORD": secrets.token_urlsafe(18),
        "POSTGRES_PASSWORD": secrets.token_urlsafe(24),
    }


def demo(values: dict[str, str]) -> dict[str, str]:
    """The demo's connections: the emulator (dev profile) and the seeded demo warehouse."""
    emulator_secret = values.get("EMULATOR_CONSUMER_SECRET") or secrets.token_urlsafe(24)
    warehouse_password = values.get("WAREHOUSE_PASSWORD") or secrets.token_urlsafe(24)
    learnosity = {
        "conn_type": "learnosity",
        "host": "http://emulator:8765",
        "login": EMULATOR_KEY,
        "password": emulator_secret,
        "extra": {"lts_version": "v2025.2.LTS", "domain": "localhost"},
    }
    warehouse = {
        "conn_type": "postgres",
        "host": "warehouse",
        "port": 5432,
        "login": "warehouse",
        "password": warehouse_password,
        "schema": "warehouse",
    }
    return {
        "EMULATOR_CONSUMER_SECRET": emulator_secret,
        "WAREHOUSE_PASSWORD": warehouse_password,
        "AIRFLOW_CONN_LEARNOSITY_DEFAULT": json.dumps(learnosity),
        "AIRFLOW_CONN_LEARNOSITY_WAREHOUSE": json.dumps(warehouse),
    }


def read_env(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            name, sep, value = line.partition("=")
            if sep and not line.lstrip().startswith("#"):
                values[name.strip()] = value.strip().strip("'")
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, nargs="?", default=Path(".env"))
    parser.add_argument("--demo", action="store_true", help="also connect Airflow to the emulator")
    args = parser.parse_args()
    existing = read_env(args.path)
    wanted = generated()
    if args.demo:
        wanted.update(demo(existing))
    added = {name: value for name, value in wanted.items() if name not in existing}
    if added:
        # JSON values are quoted so that compose reads them whole.
        lines = [f"{name}='{v}'" if v.startswith("{") else f"{name}={v}" for name, v in added.items()]
        text = args.path.read_text(encoding="utf-8") if args.path.exists() else ""
        separator = "\n" if text and not text.endswith("\n") else ""
        with args.path.open("a", encoding="utf-8") as env:
            env.write(separator + "".join(f"{line}\n" for line in lines))
    args.path.chmod(0o600)
    print(f"{args.path}: {len(added)} settings added, {len(existing)} kept: {', '.join(added) or 'none'}")


if __name__ == "__main__":
    main()
