"""The project's own Apache Kafka: jars from Maven Central, KRaft storage, loopback.

:func:`resolve_jars` asks Maven for ``org.apache.kafka:kafka_2.13`` and a logging binding
(``streams/kafka/pom.xml``) and copies them once into a cache folder outside the
repository (``$VIGIL_CACHE_DIR``, else ``~/.cache/vigil``). :class:`LocalKafka` formats
KRaft storage in a fresh temporary folder, starts ``kafka.Kafka`` as one combined
broker+controller on 127.0.0.1 on free ports, waits until it says it started, and on
exit stops the JVM (SIGTERM, then SIGKILL) and removes the folder. On Linux the JVM is
also told to die with the Python process that started it, so no broker is orphaned.

Examples
--------
A broker for the length of a block (not run as a doctest: it starts a JVM)::

    with LocalKafka() as kafka:
        print(kafka.bootstrap_servers)  # 127.0.0.1:<free port>
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import fcntl
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType

__all__ = [
    "DEFAULT_KAFKA_VERSION",
    "LocalKafka",
    "LocalKafkaError",
    "cache_dir",
    "die_with_parent",
    "resolve_jars",
]

#: The Apache Kafka release the local broker runs unless ``VIGIL_KAFKA_VERSION`` says otherwise.
DEFAULT_KAFKA_VERSION = "4.3.1"
_MIN_JAVA = 17
_KAFKA_FILES = Path(__file__).parent / "kafka"
_STARTED = "Kafka Server started"


class LocalKafkaError(RuntimeError):
    """The local broker cannot be had; the message names what is missing."""


def cache_dir() -> Path:
    """Where jars are kept between runs: ``$VIGIL_CACHE_DIR`` or ``~/.cache/vigil``."""
    configured = os.environ.get("VIGIL_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vigil"


def check_java() -> str:
    """Return the path of a ``java`` of version 17 or later, or raise :class:`LocalKafkaError`."""
    java = shutil.which("java")
    if java is None:
        raise LocalKafkaError(
            "Java is missing: no `java` on PATH. The local Kafka broker needs Java 17 or later "
            "(Debian: apt-get install openjdk-17-jre-headless), or set KAFKA_BOOTSTRAP_SERVERS "
            "to use a cluster of your own."
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if match:
        major = int(match.group(1))
        if major == 1 and match.group(2):  # "1.8.0_x" is Java 8
            major = int(match.group(2))
        if major < _MIN_JAVA:
            raise LocalKafkaError(
                f"Java {major} is too old: Apache Kafka 4.x needs Java {_MIN_JAVA} or later "
                f"({java})."
            )
    return java


def resolve_jars(version: str = DEFAULT_KAFKA_VERSION, *, cache: Path | None = None) -> Path:
    """Return a folder holding Apache Kafka ``version``'s broker jars, resolving them once.

    Maven copies ``kafka_2.13`` and its runtime dependencies from Maven Central into
    ``<cache>/kafka-<version>/libs``; a marker file says the copy is complete (for this
    ``pom.xml``: a changed one resolves again), and a file lock keeps two processes from
    resolving at the same time.
    """
    root = (cache or cache_dir()) / f"kafka-{version}"
    libs = root / "libs"
    marker = libs / ".complete"
    pom = (_KAFKA_FILES / "pom.xml").read_bytes()
    complete = f"org.apache.kafka:kafka_2.13:{version}\npom {hashlib.sha256(pom).hexdigest()}\n"
    if marker.exists() and marker.read_text() == complete:
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise LocalKafkaError(
            f"Maven is missing: no `mvn` on PATH, and the jars of Apache Kafka {version} are not "
            f"cached in {libs}. Install Maven 3.6+ (Debian: apt-get install maven), or set "
            "KAFKA_BOOTSTRAP_SERVERS to use a cluster of your own."
        )
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists() and marker.read_text() == complete:  # resolved while we waited
            return libs
        staging = Path(tempfile.mkdtemp(prefix="libs-", dir=root))
        command = [
            mvn,
            "-B",
            "-q",
            "-f",
            str(_KAFKA_FILES / "pom.xml"),
            "dependency:copy-dependencies",
            f"-Dkafka.version={version}",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            raise LocalKafkaError(
                f"Maven could not resolve org.apache.kafka:kafka_2.13:{version} from Maven "
                f"Central (exit {result.returncode}):\n{tail}"
            )
        if not (staging / f"kafka_2.13-{version}.jar").exists():
            shutil.rmtree(staging, ignore_errors=True)
            raise LocalKafkaError(f"Maven ran but kafka_2.13-{version}.jar is not among the jars")
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
        marker.write_text(complete)
    return libs


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _cluster_id() -> str:
    """A KRaft cluster id, as ``kafka-storage random-uuid`` makes them (no JVM needed)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """In a child process before exec: ask Linux to SIGKILL it when its parent dies."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class LocalKafka:
    """A single-node Apache Kafka (KRaft, broker+controller) on loopback.

    Parameters
    ----------
    version
        The Apache Kafka release, resolved from Maven Central.
    port
        The client port; 0 picks a free one.
    host
        The address to listen on and advertise.
    heap
        The JVM's maximum heap (``-Xmx``).
    start_timeout
        Seconds to wait for the broker to say it started.
    extra_config
        More ``server.properties`` entries.
    sasl_plain_users
        When given, clients must authenticate: the client listener is ``SASL_PLAINTEXT``
        with the ``PLAIN`` mechanism and these users (name → password).
    """

    def __init__(
        self,
        *,
        version: str = DEFAULT_KAFKA_VERSION,
        port: int = 0,
        host: str = "127.0.0.1",
        heap: str = "1g",
        start_timeout: float = 90.0,
        extra_config: dict[str, str] | None = None,
        sasl_plain_users: dict[str, str] | None = None,
    ) -> None:
        self.version = version
        self.host = host
        self.port = port
        self.heap = heap
        self.start_timeout = start_timeout
        self.extra_config = dict(extra_config or {})
        self.sasl_plain_users = dict(sasl_plain_users or {})
        self.workdir: Path | None = None
        self.start_seconds: float | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._classpath: list[str] = []

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` for clients."""
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        """The broker's console log (inside the temporary folder, removed on stop)."""
        if self.workdir is None:
            raise LocalKafkaError("the broker has not been started")
        return self.workdir / "broker.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> LocalKafka:
        """Resolve jars, format storage, start the JVM and wait until it answers."""
        if self._process is not None:
            raise LocalKafkaError("this broker is already started")
        began = time.monotonic()
        java = check_java()
        libs = resolve_jars(self.version)
        self.workdir = Path(tempfile.mkdtemp(prefix="vigil-kafka-"))
        atexit.register(self.stop)
        try:
            self.port = self.port or free_port(self.host)
            controller_port = free_port(self.host)
            properties = self.workdir / "server.properties"
            properties.write_text(self._server_properties(controller_port))
            classpath = [
                "-cp",
                f"{libs}/*",
                f"-Dlog4j2.configurationFile=file:{_KAFKA_FILES / 'log4j2.properties'}",
            ]
            cluster_id = _cluster_id()
            format_command = [java, *classpath, "kafka.tools.StorageTool", "format"]
            fmt = subprocess.run(
                [*format_command, "-t", cluster_id, "-c", str(properties)],
                capture_output=True,
                text=True,
                check=False,
            )
            if fmt.returncode != 0:
                raise LocalKafkaError(
                    f"formatting KRaft storage failed (exit {fmt.returncode}):\n"
                    + (fmt.stdout + fmt.stderr)[-2000:]
                )
            self._classpath = classpath
            self._launch()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the JVM (SIGTERM, SIGKILL after ``timeout`` s) and remove its data."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        atexit.unregister(self.stop)

    def kill(self) -> None:
        """SIGKILL the broker (for fault-injection tests); its data folder stays until stop()."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def halt(self, timeout: float = 30.0) -> None:
        """Stop the JVM as an operator would (SIGTERM, SIGKILL after ``timeout`` s), keeping
        its data and ports for :meth:`resume` (for fault-injection tests)."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def resume(self) -> LocalKafka:
        """Start the JVM again, on the same ports and data, after :meth:`halt` or :meth:`kill`."""
        if self.workdir is None:
            raise LocalKafkaError("the broker has not been started")
        if self.running:
            raise LocalKafkaError("the broker is running")
        self._launch()
        return self

    def _launch(self) -> None:
        """Run the JVM on the formatted storage and wait until it answers."""
        java = check_java()
        jvm = [java, f"-Xmx{self.heap}", "-Djava.awt.headless=true"]
        properties = self.log_path.parent / "server.properties"
        since = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                [*jvm, *self._classpath, "kafka.Kafka", str(properties)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches us; we stop the broker ourselves
                preexec_fn=die_with_parent,
            )
        self._wait_until_started(since)

    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _server_properties(self, controller_port: int) -> str:
        assert self.workdir is not None
        client = "SASL_PLAINTEXT" if self.sasl_plain_users else "PLAINTEXT"
        config = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{self.host}:{controller_port}",
            "listeners": f"{client}://{self.host}:{self.port},"
            f"CONTROLLER://{self.host}:{controller_port}",
            "advertised.listeners": f"{client}://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": client,
            "listener.security.protocol.map": f"CONTROLLER:PLAINTEXT,{client}:{client}",
            "log.dirs": str(self.workdir / "data"),
            "num.partitions": "1",
            "default.replication.factor": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
        }
        if self.sasl_plain_users:
            users = {"vigil-broker": uuid.uuid4().hex, **self.sasl_plain_users}
            broker_user, broker_password = next(iter(users.items()))
            accounts = " ".join(f'user_{name}="{pw}"' for name, pw in users.items())
            config |= {
                "sasl.enabled.mechanisms": "PLAIN",
                "sasl.mechanism.inter.broker.protocol": "PLAIN",
                "listener.name.sasl_plaintext.plain.sasl.jaas.config": (
                    "org.apache.kafka.common.security.plain.PlainLoginModule required "
                    f'username="{broker_user}" password="{broker_password}" {accounts};'
                ),
            }
        config |= self.extra_config
        return "".join(f"{k}={v}\n" for k, v in config.items())

    def _wait_until_started(self, since: int = 0) -> None:
        """Wait for the log, from byte ``since`` on, to say it started, and for the port."""
        assert self._process is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise LocalKafkaError(
                    f"the Kafka broker exited with code {self._process.returncode} while "
                    f"starting; its log ends with:\n{self._log_tail()}"
                )
            with open(self.log_path, "rb") as log:
                log.seek(since)
                started = _STARTED.encode() in log.read()
            if started and self._answers():
                return
            time.sleep(0.1)
        raise LocalKafkaError(
            f"the Kafka broker did not start within {self.start_timeout:.0f} s; its log ends "
            f"with:\n{self._log_tail()}"
        )

    def _answers(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), 1.0):
            return True
        return False

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
