"""The ``crmstream`` command line."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from config.settings import Settings, get_settings
from crmstream.cluster import prepare_cluster, publish_warm_start
from crmstream.errors import CrmstreamError
from crmstream.processes import configure_logging, run_learner_process, run_worker
from crmstream.progress import progress_bar, progress_callback

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

console = Console()
errors = Console(stderr=True)


def one_line(message: str) -> str:
    """A message on one line: its lines joined with "; " (a rules file lists each problem).

    >>> one_line("alerts.yml: rules.0.below: too low\\nalerts.yml: rules.1: unknown")
    'alerts.yml: rules.0.below: too low; alerts.yml: rules.1: unknown'
    """
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())


class CommandGroup(typer.core.TyperGroup):
    """Every command's expected failures as one line on stderr and a non-zero exit.

    Anything crmstream raises on purpose (:class:`crmstream.errors.CrmstreamError`) exits
    1; a bad argument, a missing input file included, exits 2 as Click's usage errors do.
    Other exceptions are bugs and keep their traceback.
    """

    # ``ctx`` is Typer's vendored click Context, whose class lives in a private module
    # (typer._click); typer.Context is a subclass, so it cannot be the annotation here.
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CrmstreamError as error:
            errors.print(f"[red]error:[/red] {escape(one_line(str(error)))}", soft_wrap=True)
            raise typer.Exit(1) from None
        except typer.BadParameter as error:
            where = error.ctx.command_path if error.ctx else ctx.command_path
            message = one_line(error.format_message())
            errors.print(
                f"[red]error:[/red] {escape(message)} (see {where} --help)", soft_wrap=True
            )
            raise typer.Exit(error.exit_code) from None


app = typer.Typer(
    help="Real-time intelligence from customer communications.",
    no_args_is_help=True,
    cls=CommandGroup,
)
schemas_app = typer.Typer(help="The event contracts as JSON Schema.", no_args_is_help=True)
infra_app = typer.Typer(
    help="Local Kafka, Elasticsearch and Prometheus on loopback.", no_args_is_help=True
)
app.add_typer(infra_app, name="infra")
app.add_typer(schemas_app, name="schemas")


def main() -> None:
    app()


# -- infra --------------------------------------------------------------------------


SecuredOption = Annotated[
    bool,
    typer.Option(
        "--secured",
        help="The secured variant (Kafka SASL_SSL + SCRAM, Elasticsearch TLS + API key) "
        "on its own ports and state folder.",
    ),
]


def infra_settings(secured: bool) -> Settings:
    """The settings ``infra`` works with: as configured, or the ``--secured`` variant."""
    from crmstream.infra.security import secured_variant

    settings = get_settings()
    return secured_variant(settings) if secured and not settings.local_security else settings


@infra_app.command("up")
def up(secured: SecuredOption = False) -> None:
    """Fetch (once, into the cache) and start the local servers; wait until healthy."""
    from crmstream.infra import infra_up, status_table

    settings = infra_settings(secured)
    started = time.monotonic()
    infra_up(settings, console)
    console.print(status_table(settings))
    console.print(f"infra up took {time.monotonic() - started:.1f}s")


@infra_app.command("certs")
def certs(
    directory: Annotated[Path, typer.Argument(help="Where to write them (created, 0700).")],
    host: Annotated[
        list[str], typer.Option("--host", help="A name or address the servers answer on (repeat).")
    ],
    owner: Annotated[
        int | None, typer.Option(help="User id to own the files (the servers' in containers).")
    ] = None,
) -> None:
    """A CA, a server certificate and Kafka's keystore for servers run elsewhere (compose).

    The keystore's password comes from $KAFKA_KEYSTORE_PASSWORD, which the broker reads
    too. Existing files are kept.
    """
    import os

    from crmstream.infra.errors import InfraError
    from crmstream.infra.security import KAFKA_KEYSTORE_PASSWORD_ENV, TlsFiles, ensure_tls_files

    password = os.environ.get(KAFKA_KEYSTORE_PASSWORD_ENV)
    if not password:
        raise InfraError(f"set {KAFKA_KEYSTORE_PASSWORD_ENV}: Kafka's keystore needs a password")
    files = TlsFiles(directory)
    ensure_tls_files(files, password, host, owner=owner)
    console.print(
        f"CA {files.ca_cert}; server certificate for {', '.join(host)}: {files.server_cert}"
    )


@infra_app.command("role")
def role() -> None:
    """The body of an Elasticsearch create-API-key request with crmstream's least privileges.

    Its own indices and aliases (this namespace's) and the templates, nothing else: POST it
    to ``/_security/api_key`` and give crmstream the answer's ``encoded`` value as
    CRMSTREAM_ELASTICSEARCH_API_KEY.
    """
    from crmstream.infra.security import crmstream_role

    settings = get_settings()
    name = f"crmstream-{settings.namespace or 'default'}"
    body = {"name": name, "role_descriptors": {"crmstream": crmstream_role(settings)}}
    print(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())


@infra_app.command("down")
def down(secured: SecuredOption = False) -> None:
    """Stop the local servers crmstream started; leaves no process behind."""
    from crmstream.infra import servers
    from crmstream.infra.servers import OpsPageServer

    settings = infra_settings(secured)
    for server in [OpsPageServer(settings), *reversed(servers(settings))]:
        if server.managed and server.stop():
            console.print(f"stopped {server.name}")


@infra_app.command("status")
def status(secured: SecuredOption = False) -> None:
    """Print each server, its address and health."""
    from crmstream.infra import status_table

    table = status_table(infra_settings(secured))
    console.print(table)


# -- worker -------------------------------------------------------------------------


@app.command()
def worker() -> None:
    """Run the stream worker (Faust): consume, enrich, index, publish."""
    from streams.access import AccessError
    from streams.alert_config import load_rules
    from streams.profiles import ProfileConfig
    from streams.topics import TopicSetupError

    settings = get_settings()
    configure_logging(settings)
    # A broken rules or customers file is reported before the cluster is touched
    # (streams.app and agents/customers.py, imported by the worker, read them again).
    load_rules(settings.alert_rules_file)
    ProfileConfig.load(settings.customers_file)
    try:
        asyncio.run(prepare_cluster(settings))
    except (TopicSetupError, AccessError) as error:
        # One line that names what is wrong and the setting to fix; no traceback.
        logging.getLogger("crmstream.worker").critical("not starting: %s", error)
        raise typer.Exit(1) from None
    run_worker(settings)


@app.command()
def ops() -> None:
    """Serve the live ops page on CRMSTREAM_OPS_WEB_HOST:CRMSTREAM_OPS_WEB_PORT."""
    from crmstream.ops.server import serve

    settings = get_settings()
    configure_logging(settings)
    # One search per panel and refresh: Elasticsearch's request log would drown the rest.
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
    console.print(f"ops page: http://{settings.ops_web_host}:{settings.ops_web_port}/")
    serve(settings)


@app.command()
def learner(
    parent_pid: Annotated[
        int | None,
        typer.Option(
            help="Stop when this process exits (set by the worker that starts it).", hidden=True
        ),
    ] = None,
) -> None:
    """Run the learner: learn from crm.training, publish model snapshots on crm.models."""
    from streams.access import AccessError, check_kafka_access

    settings = get_settings()
    configure_logging(settings)
    try:
        asyncio.run(check_kafka_access(settings))  # the learner talks to Kafka only
    except AccessError as error:
        logging.getLogger("crmstream.learner").critical("not starting: %s", error)
        raise typer.Exit(1) from None
    run_learner_process(settings, parent_pid=parent_pid)


# -- generate -----------------------------------------------------------------------


@app.command()
def generate(
    count: Annotated[int, typer.Option(help="How many events.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same events.")] = 0,
    out: Annotated[
        Path | None, typer.Option(help="Write JSON Lines here ('-' for stdout).")
    ] = None,
    produce: Annotated[bool, typer.Option(help="Produce to the input topics.")] = False,
    zh_share: Annotated[float, typer.Option(help="Share of customers writing Chinese.")] = 0.3,
    label_share: Annotated[float, typer.Option(help="Share of inbound texts labelled.")] = 0.3,
    inject_need: Annotated[
        str | None, typer.Option(help="A new need that appears (e.g. loyalty_points).")
    ] = None,
    inject_after_hours: Annotated[
        float, typer.Option(help="Hours into the stream when it appears.")
    ] = 24.0,
    inject_share: Annotated[float, typer.Option(help="Its share of conversations.")] = 0.02,
) -> None:
    """Generate realistic communications and feedback (English and Chinese)."""
    from datetime import timedelta

    from crmstream.generator import DEFAULT_START, EventGenerator, Injection

    if out is None and not produce:
        raise typer.BadParameter("choose --out FILE (or -) and/or --produce")
    inject = None
    if inject_need is not None:
        moment = DEFAULT_START + timedelta(hours=inject_after_hours)
        inject = Injection(inject_need, moment, inject_share)
    generator = EventGenerator(seed, zh_share=zh_share, label_share=label_share, inject=inject)
    events = list(generator.events(count))
    if out is not None:
        lines = b"".join(
            orjson.dumps({"kind": e.kind, "key": e.key, "value": e.value}) + b"\n" for e in events
        )
        if str(out) == "-":
            sys.stdout.buffer.write(lines)
        else:
            out.write_bytes(lines)
            console.print(f"wrote {count} events to {out}")
    if produce:
        from crmstream.produce import encode_events
        from crmstream.produce import produce as produce_messages

        settings = get_settings()
        asyncio.run(prepare_cluster(settings))
        with progress_bar(console) as bar:
            task = bar.add_task("producing", total=count)
            asyncio.run(
                produce_messages(
                    settings,
                    encode_events(settings, events),
                    on_sent=lambda n: bar.advance(task, n),
                )
            )
        console.print(f"produced {count} events to {settings.kafka_bootstrap_servers}")


# -- search -------------------------------------------------------------------------


@contextmanager
def _reading_index(settings: Settings, alias: str) -> Iterator[Elasticsearch]:
    """A client for a command that reads ``alias``; its expected failures as one line."""
    from elastic_transport import ConnectionError as TransportConnectionError
    from elasticsearch import NotFoundError

    from streams.search_index import create_client

    client = create_client(settings)
    try:
        yield client
    except NotFoundError:
        errors.print(f"nothing indexed yet in {alias}")
        raise typer.Exit(1) from None
    except TransportConnectionError:
        errors.print("Elasticsearch is not reachable; try: crmstream infra up")
        raise typer.Exit(1) from None
    finally:
        client.close()


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
Result = TypeVar("Result")


def _print_result(
    result: Result,
    as_json: bool,
    render_json: Callable[[Result], str],
    render_table: Callable[[Result, Console], None],
) -> None:
    """What a reading command found: JSON on stdout with ``--json``, else a table."""
    if as_json:
        sys.stdout.write(render_json(result) + "\n")
    else:
        render_table(result, console)


@app.command("search")
def search_command(
    query: Annotated[str, typer.Argument(help='Words, "phrases", -excluded, field:value.')] = "",
    need: Annotated[str | None, typer.Option(help="Only this need.")] = None,
    channel: Annotated[str | None, typer.Option(help="Only this channel.")] = None,
    agent: Annotated[str | None, typer.Option(help="Only this agent id.")] = None,
    since: Annotated[str | None, typer.Option(help="2h, 30m, 7d, or a date/time.")] = None,
    min_urgency: Annotated[
        float | None, typer.Option(min=0, max=1, help="Urgency at least.")
    ] = None,
    max_satisfaction: Annotated[
        float | None, typer.Option(min=0, max=1, help="Predicted satisfaction at most.")
    ] = None,
    lang: Annotated[str | None, typer.Option(help="Only this language (en, zh, ...).")] = None,
    size: Annotated[int, typer.Option(min=1, max=10_000, help="How many results.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """Search the indexed communications (English and Chinese)."""
    from datetime import UTC, datetime

    from crmstream.search import SearchFilters, parse_since, search
    from crmstream.search_render import render_json, render_table
    from streams.search_index import COMMUNICATIONS_ALIAS

    try:
        since_at = parse_since(since, datetime.now(UTC)) if since else None
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--since") from None
    filters = SearchFilters(
        need=need, channel=channel, agent=agent, since=since_at, min_urgency=min_urgency,
        max_satisfaction=max_satisfaction, lang=lang,
    )  # fmt: skip
    settings = get_settings()
    alias = settings.index_name(COMMUNICATIONS_ALIAS)
    with _reading_index(settings, alias) as client:
        result = search(client, alias, query, filters, size=size)
    _print_result(result, as_json, render_json, render_table)


@app.command("similar")
def similar_command(
    event_id: Annotated[str, typer.Argument(help="The communication's event id.")],
    size: Annotated[int, typer.Option(min=1, max=100, help="How many similar ones.")] = 5,
    as_json: JsonOption = False,
) -> None:
    """Earlier communications like this one, and a reply that worked for one of them."""
    from crmstream.similar import CommunicationNotFound, find_similar, render_json, render_table
    from streams.search_index import COMMUNICATIONS_ALIAS, FEEDBACK_ALIAS

    settings = get_settings()
    alias = settings.index_name(COMMUNICATIONS_ALIAS)
    with _reading_index(settings, alias) as client:
        try:
            result = find_similar(
                client, alias, settings.index_name(FEEDBACK_ALIAS), event_id, size=size
            )
        except CommunicationNotFound as error:
            errors.print(str(error))
            raise typer.Exit(1) from None
    _print_result(result, as_json, render_json, render_table)


@app.command("eval-similar")
def eval_similar(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or JSON Lines.")],
    text_col: Annotated[str, typer.Option(help="Column with the text.")],
    label_col: Annotated[str, typer.Option(help="Column with the label to compare.")],
    time_col: Annotated[
        str | None, typer.Option(help="Column with the time (else file order).")
    ] = None,
    timezone: Annotated[str, typer.Option(help="Zone of times without one.")] = "UTC",
    top: Annotated[int, typer.Option(min=1, max=50, help="Similar ones per message.")] = 5,
    sample: Annotated[int, typer.Option(min=1, help="Messages asked, drawn at random.")] = 1000,
) -> None:
    """How often a message's similar earlier ones share its label, against chance."""
    from crmstream.similar import evaluate_similarity, render_report

    with progress_bar(console) as bar:
        bar.add_task("indexing and asking", total=None)
        figures = evaluate_similarity(
            get_settings(), file, text_col=text_col, label_col=label_col, time_col=time_col,
            timezone=timezone, top=top, sample=sample,
        )  # fmt: skip
    render_report(figures, console, top=top)


# -- customers ----------------------------------------------------------------------


@app.command()
def forget(
    customer_id: Annotated[str, typer.Argument(help="The customer to remove.")],
) -> None:
    """Remove a customer: their documents, profile, stream state and learner examples."""
    from crmstream.forget import forget_customer

    settings = get_settings()
    asyncio.run(prepare_cluster(settings))
    report = forget_customer(settings, customer_id)
    removed = ", ".join(f"{k} {v}" for k, v in report.removed.items())
    requested = ", ".join(f"{k} {v}" for k, v in report.requested.items())
    console.print(f"forget request {report.request_id} for {customer_id}")
    console.print(f"removed from the indices: {removed}")
    console.print(f"asked of the stream: {requested} (audited in crm-audit as each is done)")


# -- schemas ------------------------------------------------------------------------


@schemas_app.command("export")
def schemas_export() -> None:
    """Write the JSON Schema of every contract into schemas/json/v<major>/."""
    from schemas.export import export

    for path in export():
        console.print(f"wrote {path}")


# -- replay -------------------------------------------------------------------------


def _pairs(values: list[str], option: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"expected FIELD=VALUE, got {value!r}", param_hint=option)
        pairs[name.strip()] = rest
    return pairs


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or JSON Lines.")],
    kind: Annotated[str, typer.Option(help="communication or feedback.")] = "communication",
    mapping_file: Annotated[
        Path | None, typer.Option("--mapping", exists=True, help="YAML mapping file.")
    ] = None,
    map_: Annotated[
        list[str], typer.Option("--map", help="FIELD=COLUMN (repeat; dotted fields nest).")
    ] = [],  # noqa: B006 (typer reads the default, never mutates it)
    set_: Annotated[list[str], typer.Option("--set", help="FIELD=CONSTANT (repeat).")] = [],  # noqa: B006
    metadata: Annotated[
        list[str], typer.Option(help="Column to keep under metadata (repeat).")
    ] = [],  # noqa: B006
    timezone: Annotated[str | None, typer.Option(help="Zone of times without an offset.")] = None,
    order: Annotated[str, typer.Option(help="file, time or shuffle.")] = "file",
    shuffle_seed: Annotated[int, typer.Option(help="Seed for --order shuffle.")] = 0,
    limit: Annotated[int | None, typer.Option(help="Send at most this many events.")] = None,
    rate: Annotated[float | None, typer.Option(help="Events per second (default: max).")] = None,
) -> None:
    """Replay a file onto the input topics; bad rows are reported and skipped."""
    from crmstream.produce import produce as produce_messages
    from crmstream.replay import Kind, Order, RowMapping, plan_replay
    from streams.topics import COMMUNICATIONS, FEEDBACK

    if kind not in ("communication", "feedback"):
        raise typer.BadParameter("communication or feedback", param_hint="--kind")
    if order not in ("file", "time", "shuffle"):
        raise typer.BadParameter("file, time or shuffle", param_hint="--order")
    base = RowMapping.from_file(mapping_file) if mapping_file else RowMapping(kind=cast(Kind, kind))
    mapping = base.merged(_pairs(map_, "--map"), _pairs(set_, "--set"), tuple(metadata), timezone)
    plan = plan_replay(
        file, mapping, order=cast(Order, order), shuffle_seed=shuffle_seed, limit=limit
    )
    for number, why in plan.skipped[:10]:
        errors.print(f"[yellow]skipped row {number}:[/yellow] {why}")
    if len(plan.skipped) > 10:
        errors.print(f"[yellow]... and {len(plan.skipped) - 10} more skipped rows[/yellow]")

    settings = get_settings()
    asyncio.run(prepare_cluster(settings))
    topic = settings.topic_name(COMMUNICATIONS if mapping.kind == "communication" else FEEDBACK)
    messages = (
        (topic, str(e.get("customer_id", "")).encode() or None, orjson.dumps(e))
        for e in plan.events
    )
    with progress_bar(console) as bar:
        task = bar.add_task("replaying", total=len(plan.events))
        sent = asyncio.run(
            produce_messages(settings, messages, on_sent=lambda n: bar.advance(task, n), rate=rate)
        )
    console.print(f"sent {sent} events to {topic}; skipped {len(plan.skipped)} rows")


# -- models -------------------------------------------------------------------------


def _scale(value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    low, _, high = value.partition(":")
    try:
        return float(low), float(high)
    except ValueError:
        raise typer.BadParameter(
            "expected MIN:MAX, e.g. 1:5", param_hint="--satisfaction-scale"
        ) from None


# The options ``eval`` and ``bootstrap`` share: the columns of a labelled file.
LabelledFile = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, help="CSV or JSON Lines.")
]
TextColumn = Annotated[str, typer.Option(help="Column with the text.")]
NeedColumn = Annotated[str | None, typer.Option(help="Column with need labels.")]
SatisfactionColumn = Annotated[
    str | None, typer.Option(help="Numeric score, or negative/neutral/positive, or 0/1.")
]
SatisfactionScale = Annotated[
    str | None, typer.Option(help="MIN:MAX of a numeric satisfaction column.")
]
TimeColumn = Annotated[str | None, typer.Option(help="Read the rows in the order of this time.")]


@app.command("eval")
def evaluate(
    file: LabelledFile,
    text_col: TextColumn,
    out: Annotated[Path, typer.Option(help="Folder for report.md, metrics.json and plots.")],
    need_col: NeedColumn = None,
    satisfaction_col: SatisfactionColumn = None,
    satisfaction_scale: SatisfactionScale = None,
    time_col: TimeColumn = None,
    shuffle_seed: Annotated[int | None, typer.Option(help="Shuffle with this seed.")] = None,
    language_col: Annotated[str | None, typer.Option(help="Column with a language hint.")] = None,
) -> None:
    """Online models (predict, then learn) against scikit-learn baselines on the last 20%."""
    from crmstream.evaluation import run_evaluation
    from crmstream.labelled import LabelledColumns

    if time_col is not None and shuffle_seed is not None:
        raise typer.BadParameter("choose --time-col or --shuffle-seed, not both")
    columns = LabelledColumns(
        text_col, need=need_col, satisfaction=satisfaction_col,
        satisfaction_scale=_scale(satisfaction_scale), language=language_col,
        time=time_col, shuffle_seed=shuffle_seed,
    )  # fmt: skip
    with progress_callback(console, "evaluating") as progress:
        metrics = run_evaluation(file, columns, out=out, progress=progress)
    table = Table(
        "task", "metric", "online", "batch", "batch tuned", "online - batch tuned", "test rows"
    )
    for name, figures in metrics["tasks"].items():
        for metric in figures["online"]:
            online, batch = figures["online"][metric], figures["batch"][metric]
            tuned = figures["batch_tuned"][metric]
            table.add_row(
                name, metric, f"{online:.4f}", f"{batch:.4f}", f"{tuned:.4f}",
                f"{online - tuned:+.4f}", str(figures["n_test"]),
            )  # fmt: skip
    console.print(table)
    console.print(f"report: {out / 'report.md'}")


@app.command("eval-emerging")
def eval_emerging(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or JSON Lines.")],
    text_col: Annotated[str, typer.Option(help="Column with the text.")],
    need_col: Annotated[str, typer.Option(help="Column with need labels.")],
    hide: Annotated[list[str], typer.Option(help="A need to hide (the new need); repeat.")],
    time_col: Annotated[str | None, typer.Option(help="Replay in the order of this time.")] = None,
    fill_need_from: Annotated[
        str | None, typer.Option(help="Column giving the need where the need is empty.")
    ] = None,
    label_share: Annotated[
        float, typer.Option(help="Share of the other needs' rows that keep their label.")
    ] = 0.5,
    batch: Annotated[int, typer.Option(help="Records per training message.")] = 100,
) -> None:
    """Hide needs, stream the rest through the learner: was each hidden need found?"""
    from crmstream.emerging_eval import communication_rows, evaluate_emerging
    from crmstream.labelled import read_rows

    rows = communication_rows(read_rows(file))
    with progress_bar(console) as bar:
        task = bar.add_task("streaming", total=None)
        report = evaluate_emerging(
            rows,
            text_col=text_col,
            need_col=need_col,
            hide=hide,
            time_col=time_col,
            fill_need_from=fill_need_from,
            label_share=label_share,
            batch=batch,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(report.table(), markup=False, highlight=False)


@app.command()
def bootstrap(
    file: LabelledFile,
    text_col: TextColumn,
    need_col: NeedColumn = None,
    satisfaction_col: SatisfactionColumn = None,
    satisfaction_scale: SatisfactionScale = None,
    priority_col: Annotated[str | None, typer.Option(help="Column with P1..P4 labels.")] = None,
    time_col: TimeColumn = None,
) -> None:
    """Warm-start the online models from history and publish them as the newest snapshot.

    For a cold start: run it before the workers. The snapshot takes the version of
    the training topic's current end, so the learner resumes after it.
    """
    from crmstream.evaluation import bootstrap as learn_history
    from crmstream.labelled import LabelledColumns

    columns = LabelledColumns(
        text_col, need=need_col, satisfaction=satisfaction_col,
        satisfaction_scale=_scale(satisfaction_scale), priority=priority_col, time=time_col,
    )  # fmt: skip
    with progress_callback(console, "learning") as progress:
        learned = learn_history(file, columns, progress=progress)
    settings = get_settings()
    asyncio.run(prepare_cluster(settings))
    version, size = asyncio.run(publish_warm_start(settings, learned))
    console.print(
        f"published snapshot {version} ({size} bytes) with "
        + ", ".join(f"{name} v{model.version}" for name, model in learned.items())
    )


# -- bench --------------------------------------------------------------------------


@app.command("bench")
def bench_command(
    out: Annotated[Path, typer.Option(help="Folder for <UTC time>.json.")] = Path("bench/results"),
    events: Annotated[int, typer.Option(min=1, help="Events for every stage.")] = 200_000,
    latency_seconds: Annotated[
        float, typer.Option(min=1, help="Seconds of each paced latency run (50% and 90%).")
    ] = 30.0,
    dataset: Annotated[
        Path | None,
        typer.Option(
            help="Airline tweets, folder or CSV [default: ../shared/datasets/airline_tweets]"
        ),
    ] = None,
) -> None:
    """Measure the model stage, Elasticsearch, Kafka and end to end on the same events."""
    from bench.run import DEFAULT_DATASET, run_bench

    run_bench(
        get_settings(), out=out, events=events, latency_seconds=latency_seconds,
        dataset=dataset or DEFAULT_DATASET, console=console, errors=errors,
    )  # fmt: skip


# -- demo ---------------------------------------------------------------------------


@app.command()
def demo(
    count: Annotated[int, typer.Option(help="How many generated events to send.")] = 5000,
    seed: Annotated[
        int | None, typer.Option(help="Random seed (default: a new one each run).")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for indexing.")] = 600.0,
) -> None:
    """Start the servers and a worker, stream generated events through, print a summary."""
    from crmstream.demo import run_demo

    run_demo(get_settings(), count=count, seed=seed, timeout_s=timeout)


if __name__ == "__main__":
    main()
