"""Settings from the environment (the CLI), with the documented defaults; the secret stays hidden."""

from __future__ import annotations

from pathlib import Path

from learnosity_devtools.emulator import EmulatorConfig


def test_defaults() -> None:
    config = EmulatorConfig.from_env({})
    assert (config.host, config.port, config.db_path) == ("127.0.0.1", 8765, Path(".demo/emulator.db"))
    assert {k: v.get_secret_value() for k, v in config.consumers.items()} == {
        "emulatordemokey1": "emulator-demo-secret"
    }
    assert (config.set_limit, config.get_limit, config.window_s, config.timestamp_window_s) == (
        50,
        1000,
        5.0,
        900,
    )


def test_overrides() -> None:
    config = EmulatorConfig.from_env(
        {
            "EMULATOR_HOST": "0.0.0.0",
            "EMULATOR_PORT": "9000",
            "EMULATOR_DB": "/tmp/x.db",
            "EMULATOR_CONSUMER_KEY": "anotherconsumer1",
            "EMULATOR_CONSUMER_SECRET": "another-secret",
            "EMULATOR_JOB_DELAY_S": "3",
            "EMULATOR_SET_LIMIT": "10",
            "EMULATOR_GET_LIMIT": "20",
            "EMULATOR_WINDOW_S": "1.5",
        }
    )
    assert (config.host, config.port, config.db_path) == ("0.0.0.0", 9000, Path("/tmp/x.db"))
    assert list(config.consumers) == ["anotherconsumer1"]
    assert (config.job_delay_s, config.set_limit, config.get_limit, config.window_s) == (3.0, 10, 20, 1.5)


def test_the_secret_never_shows() -> None:
    config = EmulatorConfig(consumers={"emulatordemokey1": "very-secret-value"})
    assert "very-secret-value" not in repr(config)
    assert "very-secret-value" not in str(config.model_dump())
