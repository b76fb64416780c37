"""One settings object, read from the environment and validated at start.

Every knob has a documented default (the README's configuration table lists them).

Examples
--------
>>> s = Settings.from_env({"VIGIL_PARTITIONS": "8", "VIGIL_EVENTS_TOPIC": "ev"})
>>> s.partitions, s.events_topic, s.labels_topic
(8, 'ev', 'labels')
>>> Settings.from_env({"VIGIL_PARTITIONS": "zero"})
Traceback (most recent call last):
...
streams.settings.SettingsError: VIGIL_PARTITIONS: expected an integer, got 'zero'
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from engine.events import MAX_MESSAGE_BYTES

__all__ = ["ENVIRONMENT", "Settings", "SettingsError"]


class SettingsError(ValueError):
    """A setting has a value the worker cannot use."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Where the worker reads and writes, and how it decides."""

    #: Kafka bootstrap servers, comma-separated; ``None`` lets the tools pick a broker.
    bootstrap_servers: str | None = None
    #: ``PLAINTEXT``, ``SSL``, ``SASL_PLAINTEXT`` or ``SASL_SSL``.
    security_protocol: str = "PLAINTEXT"
    #: ``PLAIN``, ``SCRAM-SHA-256`` or ``SCRAM-SHA-512`` (with a SASL protocol).
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    #: Never printed: it is left out of the settings' repr.
    sasl_password: str | None = field(default=None, repr=False)
    #: CA bundle to verify the brokers' certificates (with an SSL protocol).
    ssl_cafile: str | None = None
    events_topic: str = "events"
    labels_topic: str = "labels"
    decisions_topic: str = "decisions"
    alerts_topic: str = "alerts"
    dead_letter_topic: str = "dead-letter"
    #: Compacted topic of model checkpoints and the current version (one partition).
    models_topic: str = "models"
    #: Seconds between two model checkpoints (only when the model learned since).
    checkpoint_seconds: float = 60.0
    #: Partitions of the input topics (events and labels share it) and of the outputs.
    partitions: int = 4
    replication_factor: int = 1
    group_id: str = "vigil"
    #: Where the worker keeps local state (Faust's datadir).
    data_dir: Path = field(default_factory=lambda: Path("~/.local/state/vigil").expanduser())
    #: Where entity states live locally: ``rocksdb`` (on disk in ``data_dir``, so that a
    #: restart recovers only the changelog written since) or ``memory`` (recovered whole).
    state_store: str = "rocksdb"
    #: ``numba`` (the default model) or ``river`` (River's own, for comparison: it has no
    #: checkpoints, so a restarted worker starts it afresh).
    model: str = "numba"
    action_threshold: float = 0.8
    #: ``memory`` acts on rises over the entity's max; ``naive`` on every high score.
    policy: str = "memory"
    min_rise: float = 0.1
    cooldown_seconds: float = 3600.0
    memory_window_seconds: float = 86_400.0
    first_label_lookback_seconds: float = 86_400.0
    max_message_bytes: int = MAX_MESSAGE_BYTES
    #: Most input records one fetch returns: a batch handed to the engine at once.
    #: 2,000 rather than 500: the costs paid per batch (a produce round trip, the commit
    #: bookkeeping) weigh less (``vigil bench scale``: 10.7k vs 5.9k events/s).
    batch_max: int = 2000
    #: Longest a fetch waits at the broker for records (Faust fixes it at 1,500 ms). A
    #: fetch in flight holds back the next one to that broker, and under load the one in
    #: flight may ask only for partitions with nothing new (the labels' while events
    #: wait in the consumer): the worker then sat idle up to this long with events to
    #: decide, and fell behind at half its throughput. Lower: less of that wait, more
    #: fetches while idle (the broker's idle CPU, 4 partitions: 0.05 of a core at
    #: 1,500 ms, 0.14 at 50 ms).
    fetch_max_wait_ms: int = 50
    log_level: str = "info"
    #: ``text`` or ``json`` (one JSON object per line).
    log_format: str = "text"
    #: Port of /metrics, /healthz and /readyz; 0 turns the server off.
    metrics_port: int = 9100

    @property
    def bootstrap(self) -> str:
        """The bootstrap servers to use: the configured ones, else ``localhost:9092``."""
        return self.bootstrap_servers or "localhost:9092"

    def kafka_options(self) -> dict[str, Any]:
        """Connection options for kafka-python's clients (bootstrap servers and security).

        >>> Settings(bootstrap_servers="a:1,b:2").kafka_options()
        {'bootstrap_servers': ['a:1', 'b:2'], 'security_protocol': 'PLAINTEXT'}
        """
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap.split(","),
            "security_protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = self.sasl_password
        if self.ssl_cafile:
            options["ssl_cafile"] = self.ssl_cafile
        return options

    def faust_credentials(self) -> Any:
        """The same security for Faust (aiokafka): SASL or SSL credentials, or ``None``."""
        import ssl

        import faust

        context = None
        if self.security_protocol in {"SSL", "SASL_SSL"}:
            context = ssl.create_default_context(cafile=self.ssl_cafile)
        if self.security_protocol.startswith("SASL"):
            return faust.SASLCredentials(
                username=self.sasl_username,
                password=self.sasl_password,
                mechanism=self.sasl_mechanism or "PLAIN",
                ssl_context=context,
            )
        if context is not None:
            return faust.SSLCredentials(context)
        return None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``environ`` (``os.environ`` by default) and validate them.

        ``VIGIL_CONFIG`` may name a TOML file whose keys are the settings' names
        (``partitions = 8``, ``events_topic = "ev"``); environment variables override it.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        if environ.get("VIGIL_CONFIG"):
            values.update(_from_toml(Path(environ["VIGIL_CONFIG"]).expanduser()))
        for f in fields(cls):
            name = ENVIRONMENT[f.name]
            raw = environ.get(name)
            if raw is None or raw == "":
                continue
            values[f.name] = _convert(name, raw, f.type)
        return cls(**values).validated()

    def validated(self) -> Settings:
        """Return ``self`` if every value is usable, else raise :class:`SettingsError`."""
        if self.partitions < 1:
            raise SettingsError(f"VIGIL_PARTITIONS: must be at least 1, got {self.partitions}")
        if self.replication_factor < 1:
            raise SettingsError("VIGIL_REPLICATION_FACTOR: must be at least 1")
        if not 0.0 <= self.action_threshold <= 1.0:
            raise SettingsError(
                f"VIGIL_ACTION_THRESHOLD: must be within [0, 1], got {self.action_threshold}"
            )
        protocols = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}
        if self.security_protocol not in protocols:
            raise SettingsError(
                f"KAFKA_SECURITY_PROTOCOL: expected one of {sorted(protocols)}, "
                f"got {self.security_protocol!r}"
            )
        if self.security_protocol.startswith("SASL") and not (
            self.sasl_mechanism and self.sasl_username and self.sasl_password
        ):
            raise SettingsError(
                f"KAFKA_SECURITY_PROTOCOL={self.security_protocol} needs KAFKA_SASL_MECHANISM, "
                "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
            )
        mechanisms = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}
        if self.sasl_mechanism is not None and self.sasl_mechanism not in mechanisms:
            raise SettingsError(
                f"KAFKA_SASL_MECHANISM: expected one of {sorted(mechanisms)}, "
                f"got {self.sasl_mechanism!r}"
            )
        if self.state_store not in {"rocksdb", "memory"}:
            raise SettingsError(
                f"VIGIL_STATE_STORE: expected rocksdb or memory, got {self.state_store!r}"
            )
        if self.model not in {"numba", "river"}:
            raise SettingsError(f"VIGIL_MODEL: expected numba or river, got {self.model!r}")
        if self.policy not in {"memory", "naive"}:
            raise SettingsError(f"VIGIL_POLICY: expected memory or naive, got {self.policy!r}")
        if self.min_rise < 0 or self.cooldown_seconds < 0 or self.first_label_lookback_seconds < 0:
            raise SettingsError(
                "VIGIL_MIN_RISE, VIGIL_COOLDOWN_SECONDS and VIGIL_FIRST_LABEL_LOOKBACK_SECONDS "
                "must not be negative"
            )
        if self.checkpoint_seconds <= 0:
            raise SettingsError("VIGIL_CHECKPOINT_SECONDS: must be positive")
        if self.memory_window_seconds <= 0:
            raise SettingsError("VIGIL_MEMORY_WINDOW_SECONDS: must be positive")
        if self.batch_max < 1:
            raise SettingsError("VIGIL_BATCH_MAX: must be at least 1")
        if not 1 <= self.fetch_max_wait_ms <= 30_000:
            # 0 would send the next fetch at once, again and again, while idle; a fetch
            # must also return well within the clients' request timeout.
            raise SettingsError("VIGIL_FETCH_MAX_WAIT_MS: must be within [1, 30000]")
        if self.max_message_bytes < 1:
            raise SettingsError("VIGIL_MAX_MESSAGE_BYTES: must be at least 1")
        topics = [
            self.events_topic,
            self.labels_topic,
            self.decisions_topic,
            self.alerts_topic,
            self.dead_letter_topic,
            self.models_topic,
        ]
        if len(set(topics)) != len(topics):
            raise SettingsError(f"topic names must differ, got {topics}")
        if self.log_format not in {"text", "json"}:
            raise SettingsError(f"VIGIL_LOG_FORMAT: expected text or json, got {self.log_format!r}")
        if not 0 <= self.metrics_port < 65536:
            raise SettingsError(f"VIGIL_METRICS_PORT: not a port: {self.metrics_port}")
        if self.log_level.lower() not in {"debug", "info", "warning", "error", "critical"}:
            raise SettingsError(f"VIGIL_LOG_LEVEL: unknown level {self.log_level!r}")
        return self

    def with_topic_prefix(self, prefix: str) -> Settings:
        """The same settings with every topic name prefixed (tests, demos)."""
        return replace(
            self,
            events_topic=prefix + self.events_topic,
            labels_topic=prefix + self.labels_topic,
            decisions_topic=prefix + self.decisions_topic,
            alerts_topic=prefix + self.alerts_topic,
            dead_letter_topic=prefix + self.dead_letter_topic,
            models_topic=prefix + self.models_topic,
        )

    def to_env(self) -> dict[str, str]:
        """The environment variables that reproduce these settings in another process."""
        env = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                env[ENVIRONMENT[f.name]] = str(value)
        return env


#: The environment variable behind each setting.
ENVIRONMENT: dict[str, str] = {
    "bootstrap_servers": "KAFKA_BOOTSTRAP_SERVERS",
    "security_protocol": "KAFKA_SECURITY_PROTOCOL",
    "sasl_mechanism": "KAFKA_SASL_MECHANISM",
    "sasl_username": "KAFKA_SASL_USERNAME",
    "sasl_password": "KAFKA_SASL_PASSWORD",
    "ssl_cafile": "KAFKA_SSL_CAFILE",
    "events_topic": "VIGIL_EVENTS_TOPIC",
    "labels_topic": "VIGIL_LABELS_TOPIC",
    "decisions_topic": "VIGIL_DECISIONS_TOPIC",
    "alerts_topic": "VIGIL_ALERTS_TOPIC",
    "dead_letter_topic": "VIGIL_DEAD_LETTER_TOPIC",
    "models_topic": "VIGIL_MODELS_TOPIC",
    "checkpoint_seconds": "VIGIL_CHECKPOINT_SECONDS",
    "partitions": "VIGIL_PARTITIONS",
    "replication_factor": "VIGIL_REPLICATION_FACTOR",
    "group_id": "VIGIL_GROUP_ID",
    "data_dir": "VIGIL_DATA_DIR",
    "state_store": "VIGIL_STATE_STORE",
    "model": "VIGIL_MODEL",
    "action_threshold": "VIGIL_ACTION_THRESHOLD",
    "policy": "VIGIL_POLICY",
    "min_rise": "VIGIL_MIN_RISE",
    "cooldown_seconds": "VIGIL_COOLDOWN_SECONDS",
    "memory_window_seconds": "VIGIL_MEMORY_WINDOW_SECONDS",
    "first_label_lookback_seconds": "VIGIL_FIRST_LABEL_LOOKBACK_SECONDS",
    "max_message_bytes": "VIGIL_MAX_MESSAGE_BYTES",
    "batch_max": "VIGIL_BATCH_MAX",
    "fetch_max_wait_ms": "VIGIL_FETCH_MAX_WAIT_MS",
    "log_level": "VIGIL_LOG_LEVEL",
    "log_format": "VIGIL_LOG_FORMAT",
    "metrics_port": "VIGIL_METRICS_PORT",
}


def _convert(name: str, raw: str, annotation: Any) -> Any:
    kind = str(annotation)
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise SettingsError(
            f"{name}: expected {'an integer' if kind == 'int' else 'a number'}, got {raw!r}"
        ) from None
    if kind == "Path":
        return Path(raw).expanduser()
    return raw


def _from_toml(path: Path) -> dict[str, Any]:
    try:
        table = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SettingsError(f"VIGIL_CONFIG: no such file: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"VIGIL_CONFIG: {path} is not valid TOML: {exc}") from None
    known = {f.name: f for f in fields(Settings)}
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise SettingsError(f"VIGIL_CONFIG: {path}: unknown settings {unknown}")
    return {
        name: _convert(f"{path}: {name}", str(value), known[name].type)
        for name, value in table.items()
    }
