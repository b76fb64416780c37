"""docker-compose.yaml and the Dockerfile, checked without a Docker engine (there is none in
CI): the file parses, and its services, images, commands and environment match the code."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

from streams.cli import _parser
from streams.settings import ENVIRONMENT, Settings

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


def test_compose_has_kafka_a_worker_a_producer_and_a_tail() -> None:
    services = compose()["services"]
    assert set(services) == {"kafka", "worker", "producer", "decisions"}
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "healthcheck" in services["kafka"] and "healthcheck" in services["worker"]
    for name in ("worker", "producer", "decisions"):
        assert services[name]["build"] == "."


def test_every_variable_given_to_vigil_is_a_setting_the_code_reads() -> None:
    known = set(ENVIRONMENT.values())
    for name in ("worker", "producer", "decisions"):
        env = compose()["services"][name]["environment"]
        assert set(env) <= known, set(env) - known
        settings = Settings.from_env({k: str(v) for k, v in env.items()})
        assert settings.bootstrap == "kafka:9092"


def test_every_command_is_a_vigil_command_line_that_parses() -> None:
    services = compose()["services"]
    for name in ("worker", "producer", "decisions"):
        args = _parser().parse_args(services[name]["command"])
        assert args.command == services[name]["command"][0]
    health = services["worker"]["healthcheck"]["test"]
    assert health[:2] == ["CMD", "vigil"] and _parser().parse_args(health[2:]).command == "tail"


def test_the_kafka_listener_the_apps_use_is_the_one_kafka_advertises() -> None:
    kafka = compose()["services"]["kafka"]["environment"]
    assert kafka["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://kafka:9092"
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_the_dockerfile_installs_the_project_as_pyproject_says() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["requires-python"].startswith(">=3.11")
    assert "FROM python:3.11" in dockerfile
    for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]:
        top = pattern.rstrip("*")
        assert f"COPY {top} ./{top}" in dockerfile
    assert "RUN pip install . " in dockerfile
    assert 'ENTRYPOINT ["vigil"]' in dockerfile
    assert project["project"]["scripts"]["vigil"] == "streams.cli:main"
