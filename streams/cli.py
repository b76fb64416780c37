"""The ``vigil`` command: ``broker``, ``worker``, ``demo``, ``replay``, ``simulate``,
``evaluate``, ``produce``, ``tail``, ``model``.

Exit codes: 0 success, 1 the run failed (the demo saw lost or doubled decisions),
2 bad usage or configuration, 3 no Kafka broker could be had, 4 a topic is missing.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]

EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_NO_BROKER = 3
EXIT_TOPIC_MISSING = 4

#: ``vigil bench NAME`` runs ``benchmarks/bench_NAME.py``.
BENCHMARKS = {
    "scorer": "µs per event of the engine against the model alone",
    "model": "the model step, Numba against River, one by one and batched",
    "replay": "the whole engine offline, events/s, Numba against River",
    "kafka": "the worker through real Kafka, events/s and latency, against a bare aiokafka loop",
    "drift": "concept-drift detection delay, false alarms and misses",
    "scale": "the worker through real Kafka across partitions, batch sizes, workers, models",
    "startup": "start-up, cold and warm: the kernels, and the worker's first decision",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_CONFIG
    return int(args.run(args) or 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vigil",
        description="Streaming, real-time scoring of entities on Apache Kafka.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    broker = commands.add_parser(
        "broker", help="run the project's own Apache Kafka broker in the foreground"
    )
    broker.add_argument("--port", type=int, default=9092, help="client port (default 9092)")
    broker.add_argument(
        "--version",
        default=None,
        help="Apache Kafka release (default: VIGIL_KAFKA_VERSION or 4.3.1)",
    )
    broker.set_defaults(run=_run_broker)

    worker = commands.add_parser(
        "worker", help="run the scoring worker (settings from VIGIL_* variables)"
    )
    worker.set_defaults(run=_run_worker)

    demo = commands.add_parser(
        "demo", help="broker + worker + synthetic events, then a summary; stops everything"
    )
    demo.add_argument(
        "--entities",
        type=int,
        default=300,
        help="entities streamed through Kafka (default 300, over 3 days)",
    )
    demo.add_argument(
        "--evaluate-entities",
        type=int,
        default=1000,
        help="entities of the offline evaluation (default 1000, over 7 days)",
    )
    demo.add_argument("--seed", type=int, default=42, help="seed of the stream (default 42)")
    demo.set_defaults(run=_run_demo)

    replay = commands.add_parser(
        "replay", help="run JSONL events and labels through the engine, offline, to JSONL"
    )
    replay.add_argument("--events", required=True, type=Path, help="events JSONL file")
    replay.add_argument("--labels", type=Path, default=None, help="labels JSONL file")
    replay.add_argument("--out", required=True, type=Path, help="folder for the outputs")
    replay.add_argument(
        "--policy",
        choices=["memory", "naive"],
        default=None,
        help="decision policy (default: VIGIL_POLICY or memory)",
    )
    replay.add_argument(
        "--model",
        choices=["numba", "river"],
        default="numba",
        help="numba (default; compiled) or river (River's own, for comparison)",
    )
    replay.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    replay.set_defaults(run=_run_replay)

    produce = commands.add_parser(
        "produce", help="send a JSONL file to a topic, keyed by entity_id, at a target rate"
    )
    produce.add_argument("file", type=Path, help="one JSON object per line")
    produce.add_argument(
        "--topic", default="events", help="events, labels, or a topic name (default events)"
    )
    produce.add_argument("--rate", type=float, default=None, help="records per second")
    produce.set_defaults(run=_run_produce)

    tail = commands.add_parser("tail", help="follow decisions, alerts or dead letters")
    tail.add_argument(
        "what", nargs="?", default="decisions", choices=["decisions", "alerts", "dead-letter"]
    )
    tail.add_argument("--entity", default=None, help="only this entity_id")
    tail.add_argument("--from-beginning", action="store_true", help="not only new records")
    tail.add_argument("--max", type=int, default=None, help="stop after this many records")
    tail.add_argument(
        "--idle-timeout",
        type=float,
        default=None,
        help="stop after this many seconds without a record",
    )
    tail.set_defaults(run=_run_tail)

    model = commands.add_parser("model", help="model versions: list them, roll back")
    model_commands = model.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    listing = model_commands.add_parser("ls", help="list the checkpoints of VIGIL_GROUP_ID")
    listing.set_defaults(run=_run_model_ls)
    back = model_commands.add_parser("rollback", help="make the workers load VERSION")
    back.add_argument("version", type=int)
    back.set_defaults(run=_run_model_rollback)

    bench = commands.add_parser(
        "bench", help="run a benchmark of benchmarks/ (from a checkout of the repository)"
    )
    bench.add_argument(
        "which", nargs="?", choices=list(BENCHMARKS), help="which (kafka with --quick)"
    )
    bench.add_argument(
        "--quick",
        action="store_true",
        help="the benchmark's short run; `vigil bench --quick` is `vigil bench kafka --quick`",
    )
    bench.add_argument("options", nargs=argparse.REMAINDER, help="passed to the benchmark")
    bench.set_defaults(run=_run_bench)

    simulate = commands.add_parser(
        "simulate", help="the seed scenario: entities that change class, labels that come late"
    )
    _scenario_arguments(simulate)
    target = simulate.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", type=Path, help="write events/labels/truth/flips JSONL here")
    target.add_argument(
        "--kafka",
        action="store_true",
        help="produce events and labels to Kafka (KAFKA_BOOTSTRAP_SERVERS)",
    )
    simulate.add_argument(
        "--rate",
        type=float,
        default=None,
        help="records per second to Kafka (default: as fast as possible)",
    )
    simulate.set_defaults(run=_run_simulate)

    evaluate = commands.add_parser(
        "evaluate",
        help="simulate, score with the engine, and write a report that says "
        "whether the policy pays",
    )
    _scenario_arguments(evaluate)
    evaluate.add_argument(
        "--out",
        type=Path,
        default=Path("vigil-report"),
        help="folder for report.md, plots and results.json",
    )
    evaluate.set_defaults(run=_run_evaluate)
    return parser


def _run_produce(args: argparse.Namespace) -> int:
    from kafka.errors import KafkaError

    from streams.produce import produce_file

    settings = _settings("produce")
    if settings is None:
        return EXIT_CONFIG
    if not args.file.is_file():
        print(f"vigil produce: no such file: {args.file}", file=sys.stderr)
        return EXIT_CONFIG
    topic = {"events": settings.events_topic, "labels": settings.labels_topic}.get(
        args.topic, args.topic
    )
    problem = _topic_problem(settings, topic, "produce")
    if problem:
        return problem
    try:
        sent = produce_file(args.file, settings=settings, topic=topic, rate=args.rate)
    except KafkaError as exc:
        print(
            f"vigil produce: Kafka at {settings.bootstrap}: {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return EXIT_NO_BROKER
    print(f"sent {sent} records to {topic}")
    return 0


def _run_tail(args: argparse.Namespace) -> int:
    from streams.tail import tail

    settings = _settings("tail")
    if settings is None:
        return EXIT_CONFIG
    topic = {
        "decisions": settings.decisions_topic,
        "alerts": settings.alerts_topic,
        "dead-letter": settings.dead_letter_topic,
    }[args.what]
    problem = _topic_problem(settings, topic, "tail")
    if problem:
        return problem
    with contextlib.suppress(KeyboardInterrupt):
        tail(
            settings,
            topic,
            args.what,
            entity=args.entity,
            from_beginning=args.from_beginning,
            limit=args.max,
            timeout=args.idle_timeout,
        )
    return 0


def _settings(command: str):
    from streams.settings import Settings, SettingsError

    try:
        return Settings.from_env()
    except SettingsError as exc:
        print(f"vigil {command}: bad configuration: {exc}", file=sys.stderr)
        return None


def _topic_problem(settings, topic: str, command: str) -> int | None:
    """``None`` when ``topic`` exists; else the exit code, after saying what is wrong."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(
            **settings.kafka_options(),
            client_id="vigil-cli",
            request_timeout_ms=10_000,
            bootstrap_timeout_ms=10_000,
        )
        try:
            exists = topic in admin.list_topics()
        finally:
            admin.close()
    except KafkaError as exc:
        print(
            f"vigil {command}: Kafka at {settings.bootstrap} is unreachable: {type(exc).__name__}",
            file=sys.stderr,
        )
        return EXIT_NO_BROKER
    if exists:
        return None
    print(
        f"vigil {command}: topic {topic!r} does not exist at {settings.bootstrap} (start "
        "`vigil worker` once, it creates its topics)",
        file=sys.stderr,
    )
    return EXIT_TOPIC_MISSING


def _run_model_ls(args: argparse.Namespace) -> int:
    from streams.checkpoints import read_checkpoints

    settings = _settings("model ls")
    if settings is None:
        return EXIT_CONFIG
    problem = _topic_problem(settings, settings.models_topic, "model ls")
    if problem:
        return problem
    versions, current = read_checkpoints(settings)
    if not versions:
        print(f"no checkpoints for group {settings.group_id!r} on {settings.models_topic!r}")
        return 0
    print(f"{'version':>8}  {'checkpointed at (UTC)':<21} {'samples learned':>15} {'features':>8}")
    for version in sorted(versions):
        data = versions[version]
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(data.get("ts", 0)))
        features = len(data["model"].get("features", []))
        mark = "  <- current" if version == current else ""
        print(f"{version:>8}  {when:<21} {data.get('n_learned') or 0:>15} {features:>8}{mark}")
    return 0


def _run_model_rollback(args: argparse.Namespace) -> int:
    from streams.checkpoints import read_checkpoints, rollback
    from streams.clients import make_producer

    settings = _settings("model rollback")
    if settings is None:
        return EXIT_CONFIG
    problem = _topic_problem(settings, settings.models_topic, "model rollback")
    if problem:
        return problem
    versions, _ = read_checkpoints(settings)
    if args.version not in versions:
        print(
            f"vigil model rollback: no version {args.version} for group "
            f"{settings.group_id!r} (have: {sorted(versions)})",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    producer = make_producer(settings)
    try:
        rollback(producer, settings, args.version)
    finally:
        producer.close()
    print(
        f"version {args.version} is now current for group {settings.group_id!r}; "
        "running workers load it within VIGIL_CHECKPOINT_SECONDS"
    )
    return 0


def _run_bench(args: argparse.Namespace) -> int:
    import runpy

    which = args.which or ("kafka" if args.quick else None)
    if which is None:
        names = "\n".join(f"  {name:8} {what}" for name, what in BENCHMARKS.items())
        print(f"vigil bench: which benchmark?\n{names}", file=sys.stderr)
        return EXIT_CONFIG
    folder = Path(__file__).resolve().parent.parent / "benchmarks"
    script = folder / f"bench_{which}.py"
    if not script.is_file():
        print(
            f"vigil bench: {script} is not here; benchmarks run from a checkout of the "
            "repository (they are not installed with the package)",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    sys.argv = [str(script), *(["--quick"] if args.quick else []), *args.options]
    sys.path.insert(0, str(folder.parent))
    runpy.run_path(str(script), run_name="__main__")
    return 0


def _scenario_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--entities", type=int, default=10_000, help="entities (default 10000)")
    parser.add_argument("--days", type=float, default=7.0, help="days simulated (default 7)")
    parser.add_argument("--seed", type=int, default=42, help="seed (default 42)")


def _scenario(args: argparse.Namespace):
    from engine.simulate import Scenario

    return Scenario(n_entities=args.entities, days=args.days, seed=args.seed)


def _run_simulate(args: argparse.Namespace) -> int:
    from streams.simulate import produce_scenario, write_scenario

    scenario = _scenario(args)
    began = time.monotonic()
    if args.out is not None:
        counts = write_scenario(scenario, args.out)
        where = f"{args.out}/"
    else:
        from streams.settings import Settings

        settings = Settings.from_env()
        counts = produce_scenario(
            scenario,
            settings=settings,
            rate=args.rate,
            on_progress=lambda n, s: print(
                f"\r  {n} records, {n / max(s, 1e-9):.0f}/s", end="", file=sys.stderr, flush=True
            ),
        )
        where = f"Kafka at {settings.bootstrap}"
    print(
        f"simulated {scenario.n_entities} entities over {scenario.days} days (seed "
        f"{scenario.seed}) in {time.monotonic() - began:.1f} s: "
        + ", ".join(f"{v} {k}" for k, v in counts.items())
        + f" -> {where}"
    )
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    from streams.evaluate import headline_table, run_evaluation

    result = run_evaluation(
        scenario=_scenario(args), out_dir=args.out, progress=lambda line: print(line, flush=True)
    )
    print(headline_table(result))
    print(f"report: {args.out / 'report.md'}")
    return 0


def _run_broker(args: argparse.Namespace) -> int:
    import os

    from streams.local_kafka import DEFAULT_KAFKA_VERSION, LocalKafka, LocalKafkaError

    version = args.version or os.environ.get("VIGIL_KAFKA_VERSION") or DEFAULT_KAFKA_VERSION
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the broker on SIGTERM too
    try:
        with LocalKafka(version=version, port=args.port) as kafka:
            print(
                f"Apache Kafka {version} is running at {kafka.bootstrap_servers} "
                f"(started in {kafka.start_seconds:.1f} s). Ctrl-C stops it.",
                flush=True,
            )
            while kafka.running:
                time.sleep(0.5)
            print("the broker exited; its log ends with:\n" + kafka._log_tail(), file=sys.stderr)
            return EXIT_FAILED
    except LocalKafkaError as exc:
        print(f"vigil broker: {exc}", file=sys.stderr)
        return EXIT_NO_BROKER
    except KeyboardInterrupt:
        return 0


def _run_worker(args: argparse.Namespace) -> int:
    from kafka.errors import KafkaError

    from streams.app import run_worker
    from streams.settings import Settings, SettingsError
    from streams.topics import TopicError

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"vigil worker: bad configuration: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    from streams.observe import redact_secrets

    redact_secrets([settings.sasl_password])
    if settings.log_format == "json":
        from streams.observe import JsonFormatter

        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logging.basicConfig(level=settings.log_level.upper(), handlers=[handler])
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s",
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)  # kafka-python's admin client
    try:
        run_worker(settings)
    except (TopicError, SettingsError) as exc:
        print(f"vigil worker: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KafkaError as exc:
        print(
            f"vigil worker: Kafka at {settings.bootstrap} is not usable: "
            f"{type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return EXIT_NO_BROKER
    return 0


def _run_replay(args: argparse.Namespace) -> int:
    from streams.process import build_scorer
    from streams.replay import replay_files
    from streams.settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"vigil replay: bad configuration: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    for path in (args.events, args.labels):
        if path is not None and not path.is_file():
            print(f"vigil replay: no such file: {path}", file=sys.stderr)
            return EXIT_CONFIG
    began = time.monotonic()
    from streams.runtime import relax_garbage_collector

    relax_garbage_collector()
    summary = replay_files(
        events_path=args.events,
        labels_path=args.labels,
        out_dir=args.out,
        scorer=build_scorer(settings, policy=args.policy, seed=args.seed, model=args.model),
        max_message_bytes=settings.max_message_bytes,
    )
    elapsed = time.monotonic() - began
    print(
        f"replayed {summary.events} events and {summary.labels} labels in {elapsed:.1f} s: "
        f"{summary.decisions} decisions ({summary.actions} actions), {summary.alerts} alerts, "
        f"{summary.dead_letters} dead letters -> {args.out}/"
    )
    print("reasons: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.reasons.items())))
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from streams.brokers import BrokerUnavailable
    from streams.demo import run_demo
    from streams.settings import SettingsError

    try:
        return run_demo(
            n_entities=args.entities, evaluate_entities=args.evaluate_entities, seed=args.seed
        )
    except SettingsError as exc:
        print(f"vigil demo: bad configuration: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except BrokerUnavailable as exc:
        print(f"vigil demo: {exc}", file=sys.stderr)
        return EXIT_NO_BROKER


if __name__ == "__main__":
    sys.exit(main())
