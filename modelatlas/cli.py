"""The `modelatlas` command: run the pipeline, manage the warehouse, query it, open the UI and the dashboard, manage
API keys."""

from __future__ import annotations

import argparse
import contextlib
import csv
import logging
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dotenv import load_dotenv

from modelatlas.errors import ConfigurationError, ModelAtlasError
from modelatlas.logs import configure_logging
from modelatlas.redaction import redact
from modelatlas.settings import DBT_PROJECT_DIR, PROJECT_ROOT, tool_path

if TYPE_CHECKING:
    from modelatlas.runner import RunSummary
    from modelatlas.warehouse import Warehouse

log = logging.getLogger("modelatlas.cli")
EXIT_INTERRUPTED = 130


def _cmd_run(args: argparse.Namespace) -> int:
    from modelatlas.runner import format_summary, run

    summary = run(selection=args.select, verbose=args.verbose, sample=args.sample, rebuild=args.rebuild)
    print(format_summary(summary))
    return run_exit_code(summary, strict=args.strict)


def run_exit_code(summary: RunSummary, strict: bool) -> int:
    """0 for success, skips and (unless strict) unreachable hosts; 130 when interrupted; 1 for other failures."""
    if summary.interrupted:
        return EXIT_INTERRUPTED
    if summary.success or (summary.tolerated_failures_only and not strict):
        return 0
    return 1


def _cmd_warehouse(args: argparse.Namespace) -> int:
    from modelatlas.warehouse import Warehouse

    warehouse = Warehouse.from_env()
    if args.action == "url":
        if warehouse.embedded is not None:
            warehouse.ensure_ready()
        if args.reader or args.app:
            # The role must exist, with the password printed, before a BI tool uses the URL.
            warehouse.ensure_roles()
            print((warehouse.reader_connection() if args.reader else warehouse.app_connection()).url())
        else:
            print(warehouse.connection().url())
    elif args.action == "start":
        info = warehouse.ensure_ready()
        print(f"warehouse ready at {info.display_url()}")
    elif args.action == "stop":
        print("warehouse stopped" if warehouse.stop() else "warehouse was not running")
    else:
        status = warehouse.status()
        print(status.describe() if status else f"external warehouse at {warehouse.connection().display_url()}")
        if status is None or status.running:
            from modelatlas.pipelines.registry import sources
            from modelatlas.warehouse.timeseries import status_lines

            series = [table for spec in sources() for table in spec.tables if table.time_column is not None]
            print("\n".join(status_lines(warehouse.connection(), series)))
    return 0


def _warehouse(sample: bool) -> Warehouse:
    """The configured warehouse, or its sample database."""
    from modelatlas.sample import sample_warehouse
    from modelatlas.warehouse import Warehouse

    warehouse = Warehouse.from_env()
    return sample_warehouse(warehouse) if sample else warehouse


def _cmd_sql(args: argparse.Namespace) -> int:
    from modelatlas.warehouse import read_only_query

    columns, rows = read_only_query(_warehouse(args.sample).ensure_ready(), args.query)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    if columns:
        writer.writerow(columns)
    writer.writerows(["" if value is None else value for value in row] for row in rows)
    return 0


@contextlib.contextmanager
def _set_up(sample: bool) -> Iterator[None]:
    """The project's set-up for a command that serves until stopped; with `sample`, the simulator serves from this
    process and the environment names the sample database (the served process inherits it) until the block ends."""
    from modelatlas.runner import prepare, sample_mode
    from modelatlas.warehouse import Warehouse

    with contextlib.ExitStack() as stack:
        warehouse = Warehouse.from_env()
        if sample:
            warehouse = stack.enter_context(sample_mode(warehouse))
        prepare(warehouse)
        yield


def _cmd_ui(args: argparse.Namespace) -> int:
    from modelatlas.services import service_settings

    settings = service_settings()
    host, port = args.host or settings.host, args.port or settings.port
    with _set_up(args.sample):
        # dagster dev re-parses the dbt project on every reload (DbtProject.prepare_if_dev).
        command = [tool_path("dagster"), "dev", "-w", str(PROJECT_ROOT / "workspace.yaml")]
        command += ["-h", host, "-p", str(port)]
        log.info("starting the Dagster UI on http://%s:%s%s", host, port, " (sample mode)" if args.sample else "")
        # `dagster dev` still works as documented; Dagster nudges towards its separate `dg` tool on every start.
        env = {**os.environ, "PYTHONWARNINGS": "ignore:Function `dev_command` is superseded"}
        return subprocess.call(command, cwd=PROJECT_ROOT, env=env)


def _cmd_dashboard(args: argparse.Namespace) -> int:
    from modelatlas.dashboard.settings import dashboard_settings, streamlit_command

    settings = dashboard_settings()
    host, port = args.host or settings.host, args.port or settings.port
    # The set-up creates the read-only role the pages read through, and the app role that keeps saved views.
    with _set_up(args.sample):
        log.info("starting the dashboard on http://%s:%s%s", host, port, " (sample mode)" if args.sample else "")
        return subprocess.call(streamlit_command(host, port), cwd=PROJECT_ROOT, env=dict(os.environ))


def _cmd_api(args: argparse.Namespace) -> int:
    from modelatlas.api.service import serve
    from modelatlas.api.settings import api_settings

    settings = api_settings(host=args.host, port=args.port)
    # The set-up creates the reader role the API reads marts through and the API role that reads its keys.
    with _set_up(args.sample):
        log.info(
            "starting the API on http://%s:%s/v2/docs%s",
            settings.host,
            settings.port,
            " (sample)" if args.sample else "",
        )
        serve(settings, workers=args.workers)
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from modelatlas.services import service_settings, up

    settings = service_settings()
    settings = replace(
        settings,
        host=args.host or settings.host,
        port=args.port or settings.port,
        simulator_port=args.simulator_port or settings.simulator_port,
    )
    up(settings, sample=args.sample)
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    from modelatlas.services import down, service_settings

    down(service_settings())
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from modelatlas.services import service_settings, status

    print("\n".join(status(service_settings(), sample=args.sample)))
    return 0


def _cmd_simulator(args: argparse.Namespace) -> int:
    from modelatlas.pipelines.registry import sources
    from modelatlas.services import service_settings, write_simulator_variables
    from modelatlas.simulator import Simulator, handler_for, sample_environment

    specs = sources()
    port = service_settings().simulator_port if args.port is None else args.port
    handlers = {spec.name: handler_for(spec) for spec in specs if spec.simulator is not None}
    try:
        simulator = Simulator(handlers, host=args.host, port=port)
    except OSError as exc:
        raise ConfigurationError(
            f"the simulator cannot listen on {args.host}:{port} ({exc.strerror}): choose another port with --port "
            "or MODELATLAS_SIMULATOR_PORT"
        ) from None
    variables = sample_environment(simulator, specs)
    with simulator:
        print(f"# the simulator serves {', '.join(sorted(handlers))} on http://{args.host}:{simulator.port}")
        print("# point ModelAtlas at it with these variables (as `modelatlas run --sample` does):")
        print("\n".join(f"export {name}={shlex.quote(value)}" for name, value in sorted(variables.items())))
        print("# serving until interrupted (Ctrl-C)")
        sys.stdout.flush()
        if args.env_file:
            write_simulator_variables(Path(args.env_file), variables)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("# simulator stopped")
    return 0


def _cmd_dbt(args: argparse.Namespace) -> int:
    from modelatlas.assets.dbt import vars_arguments
    from modelatlas.warehouse import Warehouse

    warehouse = Warehouse.from_env()
    warehouse.ensure_ready()
    env = {**os.environ, **warehouse.dbt_environment()}
    command = [tool_path("dbt"), *args.dbt_args]
    if args.dbt_args and not args.dbt_args[0].startswith("-"):
        # A dbt command: the project, the profile and the source lists the union models read.
        command += ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
        if "--vars" not in args.dbt_args:
            command += vars_arguments()
    return subprocess.call(command, env=env, cwd=DBT_PROJECT_DIR)


def _cmd_alerts(args: argparse.Namespace) -> int:
    from modelatlas.alerts import commands

    info = _warehouse(args.sample).ensure_ready()
    if args.action == "deliver":
        print(commands.deliver_once(info, wait_s=args.wait))
    elif args.action == "test":
        print(commands.send_test(info, args.channel))
    elif args.action == "enable":
        print(commands.enable(info, args.channel))
    else:
        print(commands.list_events(info, limit=args.limit, kind=args.kind))
    return 0


def _cmd_api_keys(args: argparse.Namespace) -> int:
    from modelatlas.api import commands

    # As the warehouse's owner: keys are created and revoked here, never by the API's own role.
    warehouse = _warehouse(args.sample)
    info = warehouse.ensure_ready()
    warehouse.ensure_roles()
    if args.action == "create":
        print(commands.create(info, args.team, args.scopes, args.expires_in_days, args.expires_at, args.name))
    elif args.action == "revoke":
        print(commands.revoke(info, args.id))
    else:
        print(commands.list_all(info))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(prog="modelatlas", description="ModelAtlas: the AI model market, as data.")
    commands = parser.add_subparsers(dest="command", required=True)

    run_parser = commands.add_parser("run", help="materialize every asset once (or a selection) and summarize")
    run_parser.add_argument("--select", help="Dagster asset selection, e.g. 'group:genai_prices' or 'key:marts/*'")
    run_parser.add_argument(
        "--sample", action="store_true", help="run against the provider simulator, into modelatlas_sample"
    )
    run_parser.add_argument("--strict", action="store_true", help="exit non-zero on any failure, unreachable too")
    run_parser.add_argument(
        "--rebuild", action="store_true", help="build every dbt model, also those whose inputs are unchanged"
    )
    run_parser.add_argument("-v", "--verbose", action="store_true", help="show dbt's and Dagster's step output")
    run_parser.set_defaults(handler=_cmd_run)

    warehouse_parser = commands.add_parser("warehouse", help="the warehouse server: url, start, stop, status")
    warehouse_parser.add_argument("action", choices=["url", "start", "stop", "status"])
    role = warehouse_parser.add_mutually_exclusive_group()
    role.add_argument(
        "--reader", action="store_true", help="with url: the read-only role's URL (SELECT on marts), for BI tools"
    )
    role.add_argument("--app", action="store_true", help="with url: the dashboard's role (marts, and writes app)")
    warehouse_parser.set_defaults(handler=_cmd_warehouse)

    sql_parser = commands.add_parser("sql", help="run one read-only query and print CSV with a header")
    sql_parser.add_argument("query")
    sql_parser.add_argument("--sample", action="store_true", help="query the sample database (modelatlas_sample)")
    sql_parser.set_defaults(handler=_cmd_sql)

    ui_parser = commands.add_parser("ui", help="start the Dagster UI (dagster dev) with schedules and sensors")
    ui_parser.add_argument("--host", help="default MODELATLAS_UI_HOST, else 127.0.0.1")
    ui_parser.add_argument("--port", type=int, help="default MODELATLAS_UI_PORT, else 3000")
    ui_parser.add_argument(
        "--sample", action="store_true", help="the simulator beside it, every source from it, the sample database"
    )
    ui_parser.set_defaults(handler=_cmd_ui)

    dashboard_parser = commands.add_parser(
        "dashboard", help="start the dashboard (Streamlit): compare models with filters, presets and shareable URLs"
    )
    dashboard_parser.add_argument("--host", help="default MODELATLAS_DASHBOARD_HOST, else 127.0.0.1")
    dashboard_parser.add_argument("--port", type=int, help="default MODELATLAS_DASHBOARD_PORT, else 8501")
    dashboard_parser.add_argument(
        "--sample", action="store_true", help="the sample database (fill it with `modelatlas run --sample`)"
    )
    dashboard_parser.set_defaults(handler=_cmd_dashboard)

    api_parser = commands.add_parser("api", help="start the read API: REST v2 (/v2/docs) and GraphQL (/graphql)")
    api_parser.add_argument("--host", help="default MODELATLAS_API_HOST, else 127.0.0.1")
    api_parser.add_argument("--port", type=int, help="default MODELATLAS_API_PORT, else 8000")
    api_parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes serving it (default 1); with more, set MODELATLAS_API_RATE_LIMIT_STORAGE to warehouse or redis",
    )
    api_parser.add_argument(
        "--sample", action="store_true", help="the sample database (fill it with `modelatlas run --sample`)"
    )
    api_parser.set_defaults(handler=_cmd_api)

    up_parser = commands.add_parser(
        "up", help="start the Dagster webserver, daemon and code server in the background (production mode)"
    )
    up_parser.add_argument("--host", help="the UI's host (default MODELATLAS_UI_HOST, else 127.0.0.1)")
    up_parser.add_argument("--port", type=int, help="the UI's port (default MODELATLAS_UI_PORT, else 3000)")
    up_parser.add_argument(
        "--sample",
        action="store_true",
        help="the simulator as a service beside them, every source from it, the sample database",
    )
    up_parser.add_argument(
        "--simulator-port", type=int, help="with --sample (default MODELATLAS_SIMULATOR_PORT, else 8787)"
    )
    up_parser.set_defaults(handler=_cmd_up)

    down_parser = commands.add_parser("down", help="stop what `up` started, and the embedded warehouse")
    down_parser.set_defaults(handler=_cmd_down)

    status_parser = commands.add_parser("status", help="the services, the warehouse and the last runs")
    status_parser.add_argument("--sample", action="store_true", help="the last runs of the sample instance")
    status_parser.set_defaults(handler=_cmd_status)

    simulator_parser = commands.add_parser(
        "simulator", help="serve every source's simulator in the foreground, printing the variables that use it"
    )
    simulator_parser.add_argument("--host", default="127.0.0.1")
    simulator_parser.add_argument("--port", type=int, help="default MODELATLAS_SIMULATOR_PORT, else 8787")
    simulator_parser.add_argument("--env-file", help=argparse.SUPPRESS)
    simulator_parser.set_defaults(handler=_cmd_simulator)

    alerts_parser = commands.add_parser("alerts", help="alerts: deliver once, send a test, list recent events")
    alerts_actions = alerts_parser.add_subparsers(dest="action", required=True)
    deliver_parser = alerts_actions.add_parser("deliver", help="evaluate the marts and deliver what is due, once")
    deliver_parser.add_argument(
        "--wait", type=float, default=30.0, help="keep retrying failed sends due within this many seconds (30)"
    )
    test_parser = alerts_actions.add_parser("test", help="send a test message to one channel, now")
    test_parser.add_argument("channel", help="a channel name: slack, discord, webhook, email, or one of the file's")
    enable_parser = alerts_actions.add_parser("enable", help="enable a channel its receiver disabled (HTTP 410)")
    enable_parser.add_argument("channel")
    list_parser = alerts_actions.add_parser("list", help="recent events and their delivery state per channel")
    list_parser.add_argument("--limit", type=int, default=30)
    list_parser.add_argument("--kind", help="only kinds like this SQL pattern, e.g. 'price.%%'")
    for sub in (deliver_parser, test_parser, enable_parser, list_parser):
        sub.add_argument("--sample", action="store_true", help="the sample database (modelatlas_sample)")
    alerts_parser.set_defaults(handler=_cmd_alerts)

    keys_parser = commands.add_parser("api-keys", help="the read API's keys: create (shown once), revoke, list")
    keys_actions = keys_parser.add_subparsers(dest="action", required=True)
    create_parser = keys_actions.add_parser("create", help="create a key; it is printed once, on the last line")
    create_parser.add_argument("--team", required=True, help="the team the key belongs to (its usage scope)")
    create_parser.add_argument(
        "--scopes", required=True, help="comma-separated, of catalog:read, usage:read (its team's), usage:all"
    )
    expires = create_parser.add_mutually_exclusive_group()
    expires.add_argument("--expires-in-days", type=float, help="the key expires this many days from now")
    expires.add_argument("--expires-at", help="the key expires at this ISO 8601 time (UTC unless it says)")
    create_parser.add_argument("--name", help="what the key is for, shown by list")
    revoke_parser = keys_actions.add_parser("revoke", help="refuse a key (and its access tokens) from now on")
    revoke_parser.add_argument("id", help="the key's id, as list shows it (the 8 characters after ma_)")
    list_keys_parser = keys_actions.add_parser(
        "list", help="every key with its state, team, scopes and dates (never the key)"
    )
    for sub in (create_parser, revoke_parser, list_keys_parser):
        sub.add_argument("--sample", action="store_true", help="the sample database's keys (`modelatlas api --sample`)")
    keys_parser.set_defaults(handler=_cmd_api_keys)

    dbt_parser = commands.add_parser("dbt", help="run dbt against the warehouse, e.g. `modelatlas dbt -- test`")
    dbt_parser.add_argument("dbt_args", nargs=argparse.REMAINDER)
    dbt_parser.set_defaults(handler=_cmd_dbt)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `modelatlas` command."""
    load_dotenv(PROJECT_ROOT / ".env", override=False)
    configure_logging()
    args = build_parser().parse_args(argv)
    if getattr(args, "dbt_args", None) and args.dbt_args[0] == "--":
        args.dbt_args = args.dbt_args[1:]
    try:
        code: int = args.handler(args)
    except ModelAtlasError as exc:
        print(f"modelatlas: {redact(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("modelatlas: interrupted; the next run completes or redoes any half-finished load", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code


if __name__ == "__main__":
    sys.exit(main())
