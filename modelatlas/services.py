"""Production mode on one machine: Dagster's code server, webserver and daemon (and in sample mode the simulator) as
background services against the warehouse, with logs in MODELATLAS_HOME/logs and PID files in MODELATLAS_HOME/run.

The code location loads once, in one code server (`dagster code-server start`); the webserver and the daemon reach
it through a generated workspace file, and the runs the daemon launches are its children.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx
import yaml

from modelatlas.errors import ConfigurationError, ModelAtlasError
from modelatlas.instance import PASSWORD_ENV
from modelatlas.sample import sample_dagster_home, sample_overrides, sample_warehouse
from modelatlas.settings import PROJECT_ROOT, dagster_home, modelatlas_home, parse_port, parse_seconds, tool_path
from modelatlas.warehouse import Warehouse

LOCATION_NAME = "modelatlas"
CODE_SERVER = "code_server"
WEBSERVER = "webserver"
DAEMON = "daemon"
SIMULATOR = "simulator"
# Started in this order, stopped in the reverse one.
SERVICE_ORDER = (SIMULATOR, CODE_SERVER, WEBSERVER, DAEMON)
STATE_FILE = "services.json"
WORKSPACE_FILE = "workspace.yaml"
SIMULATOR_ENV_FILE = "simulator-env.json"
DEFAULT_UI_HOST = "127.0.0.1"
DEFAULT_UI_PORT = 3000
DEFAULT_CODE_SERVER_PORT = 4266
DEFAULT_SIMULATOR_PORT = 8787
DEFAULT_START_TIMEOUT_S = 600.0
DEFAULT_STOP_TIMEOUT_S = 20.0
# Runs still in progress when the services stop are marked failed with this message.
STOPPED_RUN_MESSAGE = "its run worker stopped with the ModelAtlas services (`modelatlas down`)"
IN_PROGRESS = ("STARTING", "STARTED", "CANCELING")


@dataclass(frozen=True)
class ServiceSettings:
    """Where the services listen and how long to wait for them, from `MODELATLAS_*` variables."""

    home: Path
    host: str = DEFAULT_UI_HOST
    port: int = DEFAULT_UI_PORT
    code_server_port: int = DEFAULT_CODE_SERVER_PORT
    simulator_host: str = "127.0.0.1"
    simulator_port: int = DEFAULT_SIMULATOR_PORT
    start_timeout_s: float = DEFAULT_START_TIMEOUT_S
    stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S

    @property
    def url(self) -> str:
        """The Dagster UI's address."""
        return f"http://{self.host}:{self.port}"


def service_settings(env: Mapping[str, str] | None = None) -> ServiceSettings:
    """The services' settings: `MODELATLAS_UI_HOST`, `_UI_PORT`, `_CODE_SERVER_PORT`, `_SIMULATOR_PORT`,
    `_SERVICE_START_TIMEOUT` and `_SERVICE_STOP_TIMEOUT` (seconds)."""
    env = os.environ if env is None else env
    return ServiceSettings(
        home=modelatlas_home(env),
        host=env.get("MODELATLAS_UI_HOST", "").strip() or DEFAULT_UI_HOST,
        port=parse_port(env.get("MODELATLAS_UI_PORT"), DEFAULT_UI_PORT, "MODELATLAS_UI_PORT"),
        code_server_port=parse_port(
            env.get("MODELATLAS_CODE_SERVER_PORT"), DEFAULT_CODE_SERVER_PORT, "MODELATLAS_CODE_SERVER_PORT"
        ),
        simulator_port=parse_port(
            env.get("MODELATLAS_SIMULATOR_PORT"), DEFAULT_SIMULATOR_PORT, "MODELATLAS_SIMULATOR_PORT"
        ),
        start_timeout_s=parse_seconds(
            env.get("MODELATLAS_SERVICE_START_TIMEOUT"), DEFAULT_START_TIMEOUT_S, "MODELATLAS_SERVICE_START_TIMEOUT"
        ),
        stop_timeout_s=parse_seconds(
            env.get("MODELATLAS_SERVICE_STOP_TIMEOUT"), DEFAULT_STOP_TIMEOUT_S, "MODELATLAS_SERVICE_STOP_TIMEOUT"
        ),
    )


@dataclass(frozen=True)
class Layout:
    """Where the services keep their PID files, state and logs."""

    home: Path

    @property
    def run_dir(self) -> Path:
        """PID files, the services' state and the generated workspace file."""
        return self.home / "run"

    @property
    def logs_dir(self) -> Path:
        """One log per service."""
        return self.home / "logs"

    def pid_file(self, service: str) -> Path:
        """The PID file of one service: its process id, which is also its process group's."""
        return self.run_dir / f"{service}.pid"

    def log_file(self, service: str) -> Path:
        """The log of one service."""
        return self.logs_dir / f"{service}.log"

    @property
    def state_file(self) -> Path:
        """What `up` started: the mode, and each service's address and start time."""
        return self.run_dir / STATE_FILE

    @property
    def workspace_file(self) -> Path:
        """The workspace the webserver and the daemon load: the code server's address."""
        return self.run_dir / WORKSPACE_FILE

    @property
    def simulator_env_file(self) -> Path:
        """The variables pointing ModelAtlas at the simulator service, written by it once it listens."""
        return self.run_dir / SIMULATOR_ENV_FILE


@dataclass
class ServiceRecord:
    """One started service, as the state file keeps it."""

    pid: int
    started_at: float
    # When the kernel started the process: a recycled PID is not mistaken for the service.
    process_start: int | None
    url: str | None = None


@dataclass
class State:
    """What `up` started."""

    sample: bool
    dagster_home: str
    services: dict[str, ServiceRecord] = field(default_factory=dict)

    @classmethod
    def read(cls, layout: Layout) -> State | None:
        """The state file, or None when there is none (or it is unreadable)."""
        try:
            raw = json.loads(layout.state_file.read_text())
            services = {name: ServiceRecord(**record) for name, record in raw.get("services", {}).items()}
            return cls(sample=bool(raw["sample"]), dagster_home=str(raw["dagster_home"]), services=services)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write(self, layout: Layout) -> None:
        """Write the state file."""
        layout.run_dir.mkdir(parents=True, exist_ok=True)
        data = {
            "sample": self.sample,
            "dagster_home": self.dagster_home,
            "services": {name: vars(record) for name, record in self.services.items()},
        }
        layout.state_file.write_text(json.dumps(data, indent=2) + "\n")


ServiceState = Literal["running", "stopped", "stale"]


@dataclass(frozen=True)
class ServiceStatus:
    """One service as `status` reports it."""

    name: str
    state: ServiceState
    pid: int | None = None
    url: str | None = None

    def describe(self) -> str:
        """One line: running with its pid and address, stopped, or a stale PID file."""
        if self.state == "running":
            return f"{self.name:<12} running  pid {self.pid}" + (f"  {self.url}" if self.url else "")
        if self.state == "stale":
            return f"{self.name:<12} stale PID file (pid {self.pid} is not running): `modelatlas down` removes it"
        return f"{self.name:<12} stopped"


# Processes: Linux's /proc when present (start times, process groups, zombies), plain signals otherwise.


def process_start(pid: int) -> int | None:
    """When the kernel started `pid` (clock ticks since boot), or None when it is gone or unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _process_state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def is_alive(pid: int, started: int | None = None) -> bool:
    """Whether `pid` runs (not a zombie), and is the process that started at `started` when that is known."""
    if Path("/proc").is_dir() and Path("/proc/self/stat").exists():
        state = _process_state(pid)
        if state is None or state in ("Z", "X"):
            return False
        return started is None or process_start(pid) == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of one process group."""
    if not Path("/proc/self/stat").exists():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def _gone(pgid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while group_members(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def stop_group(pgid: int, timeout_s: float) -> bool:
    """SIGTERM to a process group, SIGKILL to what is left of it after `timeout_s`; True when it had to kill."""
    for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
        if _gone(pgid, wait_s):
            return sig == signal.SIGKILL
    return True


def port_taken(host: str, port: int) -> bool:
    """Whether something listens on `host:port` (a port in TIME_WAIT is free)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def listening(host: str, port: int) -> bool:
    """Whether `host:port` accepts a connection."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _signals_restored() -> None:
    """Make sure the services can be stopped: a signal ignored here would stay ignored in them."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # not the main thread: nothing to change from here
            if signal.getsignal(sig) == signal.SIG_IGN:
                signal.signal(sig, signal.SIG_DFL)


def spawn(layout: Layout, name: str, command: Sequence[str], env: Mapping[str, str], url: str | None) -> ServiceRecord:
    """Start one service in a process group of its own, its output appended to its log, and write its PID file."""
    layout.logs_dir.mkdir(parents=True, exist_ok=True)
    layout.run_dir.mkdir(parents=True, exist_ok=True)
    _signals_restored()
    with layout.log_file(name).open("a") as log:
        log.write(f"--- {datetime.now(UTC).isoformat(timespec='seconds')} starting {name}: {' '.join(command)}\n")
        log.flush()
        process = subprocess.Popen(
            list(command),
            cwd=PROJECT_ROOT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    layout.pid_file(name).write_text(f"{process.pid}\n")
    return ServiceRecord(pid=process.pid, started_at=time.time(), process_start=process_start(process.pid), url=url)


def read_pid(layout: Layout, name: str) -> int | None:
    """The pid in a service's PID file, or None."""
    try:
        return int(layout.pid_file(name).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def service_statuses(layout: Layout, state: State | None = None) -> list[ServiceStatus]:
    """Every service with a PID file or a state record: running, stopped or stale."""
    state = state if state is not None else State.read(layout)
    statuses = []
    for name in SERVICE_ORDER:
        pid = read_pid(layout, name)
        record = state.services.get(name) if state else None
        if pid is None:
            if record is not None:
                statuses.append(ServiceStatus(name, "stopped"))
            continue
        started = record.process_start if record is not None and record.pid == pid else None
        alive = is_alive(pid, started)
        statuses.append(ServiceStatus(name, "running" if alive else "stale", pid, record.url if record else None))
    return statuses


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log written)"
    return "\n".join(text.strip().splitlines()[-lines:])


def _wait_for(
    what: str, ready: Callable[[], bool], record: ServiceRecord, layout: Layout, name: str, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if not is_alive(record.pid, record.process_start):
            raise ModelAtlasError(
                f"the {name} exited while starting (`modelatlas down` stops what did start); the end of "
                f"{layout.log_file(name)}:\n{_log_tail(layout.log_file(name))}"
            )
        if time.monotonic() > deadline:
            raise ModelAtlasError(
                f"the {name} did not become ready ({what}) within {timeout_s:.0f} s: see {layout.log_file(name)} "
                "(a busy machine may need a larger MODELATLAS_SERVICE_START_TIMEOUT; `modelatlas down` stops what "
                "did start)"
            )
        time.sleep(0.5)


WORKSPACE_QUERY = """
query {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message } }
      }
    }
  }
}
"""


def graphql(url: str, query: str, variables: Mapping[str, Any] | None = None, timeout_s: float = 30) -> Any:
    """One GraphQL request to the Dagster webserver at `url`; the `data` of its answer."""
    response = httpx.post(
        f"{url}/graphql", json={"query": query, "variables": dict(variables or {})}, timeout=timeout_s
    )
    response.raise_for_status()
    body = response.json()
    if body.get("errors"):
        raise ModelAtlasError(f"the Dagster webserver answered with errors: {body['errors']}")
    return body["data"]


def location_loaded(url: str) -> bool:
    """Whether the webserver at `url` answers and has loaded the code location (an error in it is raised)."""
    try:
        data = graphql(url, WORKSPACE_QUERY, timeout_s=10)
    except (httpx.HTTPError, ValueError):
        return False
    entries = data["workspaceOrError"].get("locationEntries", [])
    entry = next((entry for entry in entries if entry["name"] == LOCATION_NAME), None)
    if entry is None or entry["loadStatus"] != "LOADED":
        return False
    location = entry["locationOrLoadError"] or {}
    if location.get("__typename") == "PythonError":
        raise ModelAtlasError(f"the code location failed to load: {location.get('message', '').strip()}")
    return True


def write_workspace(layout: Layout, port: int) -> Path:
    """The workspace file pointing at the code server."""
    layout.run_dir.mkdir(parents=True, exist_ok=True)
    workspace = {"load_from": [{"grpc_server": {"host": "127.0.0.1", "port": port, "location_name": LOCATION_NAME}}]}
    layout.workspace_file.write_text(yaml.safe_dump(workspace, sort_keys=False))
    return layout.workspace_file


@contextlib.contextmanager
def _restored_environ() -> Iterator[None]:
    """Whatever the block sets in os.environ (sample overrides, prepare's variables) is undone after it."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def commands(settings: ServiceSettings, layout: Layout) -> dict[str, list[str]]:
    """The command line of each service."""
    workspace = str(layout.workspace_file)
    return {
        SIMULATOR: [
            tool_path("modelatlas"),
            "simulator",
            "--host",
            settings.simulator_host,
            "--port",
            str(settings.simulator_port),
            "--env-file",
            str(layout.simulator_env_file),
        ],
        CODE_SERVER: [
            tool_path("dagster"),
            "code-server",
            "start",
            "-h",
            "127.0.0.1",
            "-p",
            str(settings.code_server_port),
            "-m",
            "modelatlas.definitions",
            "--location-name",
            LOCATION_NAME,
        ],
        WEBSERVER: [tool_path("dagster-webserver"), "-h", settings.host, "-p", str(settings.port), "-w", workspace],
        DAEMON: [tool_path("dagster-daemon"), "run", "-w", workspace],
    }


def _ports(settings: ServiceSettings) -> dict[str, tuple[str, int]]:
    return {
        SIMULATOR: (settings.simulator_host, settings.simulator_port),
        CODE_SERVER: ("127.0.0.1", settings.code_server_port),
        WEBSERVER: (settings.host, settings.port),
    }


_PORT_SETTINGS = {
    SIMULATOR: "--simulator-port or MODELATLAS_SIMULATOR_PORT",
    CODE_SERVER: "MODELATLAS_CODE_SERVER_PORT",
    WEBSERVER: "--port or MODELATLAS_UI_PORT",
}


def up(
    settings: ServiceSettings,
    sample: bool = False,
    simulator_variables: Mapping[str, str] | None = None,
    echo: Callable[[str], None] = print,
) -> State:
    """Start the services that are not running, in the background; return what runs.

    With `sample`, the sources point at the simulator: the simulator service started here, or, when the caller
    serves one itself, the `simulator_variables` it gives (`sample_environment`).
    """
    layout = Layout(settings.home)
    state = State.read(layout)
    statuses = {status.name: status for status in service_statuses(layout, state)}
    running = {name for name, status in statuses.items() if status.state == "running"}
    if running and state is not None and state.sample != sample:
        mode = "sample" if state.sample else "real"
        raise ConfigurationError(
            f"ModelAtlas is up in {mode} mode ({', '.join(sorted(running))}): `modelatlas down` first"
        )
    wanted = [name for name in SERVICE_ORDER if name != SIMULATOR or (sample and simulator_variables is None)]
    missing = [name for name in wanted if name not in running]
    if not missing:
        echo(f"ModelAtlas is already up ({'sample' if sample else 'real'} mode): {settings_url(state, settings)}")
        assert state is not None
        return state
    stale = [name for name, status in statuses.items() if status.state == "stale"]
    for name in missing:
        layout.pid_file(name).unlink(missing_ok=True)
        if name in _PORT_SETTINGS:
            host, port = _ports(settings)[name]
            if port_taken(host, port):
                raise ConfigurationError(
                    f"port {port} on {host} is taken (the {name} would listen there): stop what uses it, or choose "
                    f"another port with {_PORT_SETTINGS[name]}"
                )
    lines = commands(settings, layout)
    services = dict(state.services) if state is not None else {}
    if SIMULATOR not in wanted:
        services.pop(SIMULATOR, None)
    with _restored_environ():
        if sample:
            if simulator_variables is None:
                if SIMULATOR in missing:
                    services[SIMULATOR] = _start_simulator(settings, layout, lines[SIMULATOR], echo)
                simulator_variables = json.loads(layout.simulator_env_file.read_text())
            os.environ.update(sample_overrides(settings.home, simulator_variables))
        from modelatlas.runner import prepare

        info = prepare(Warehouse.from_env())
        echo(f"warehouse ready at {info.display_url()}")
        instance_home = dagster_home(settings.home)
        if stale:
            for line in fail_orphaned_runs(instance_home):
                echo(line)
        write_workspace(layout, settings.code_server_port)
        env = dict(os.environ)
        state = State(sample=sample, dagster_home=str(instance_home), services=services)
        urls = {CODE_SERVER: f"grpc://127.0.0.1:{settings.code_server_port}", WEBSERVER: settings.url, DAEMON: None}
        readiness: dict[str, tuple[str, Callable[[], bool]]] = {
            CODE_SERVER: ("the code location loaded", lambda: listening("127.0.0.1", settings.code_server_port)),
            WEBSERVER: ("the UI serving the code location", lambda: location_loaded(settings.url)),
        }
        for name in (CODE_SERVER, WEBSERVER, DAEMON):
            if name not in missing:
                continue
            record = spawn(layout, name, lines[name], env, urls[name])
            state.services[name] = record
            state.write(layout)
            if name in readiness:
                what, ready = readiness[name]
                _wait_for(what, ready, record, layout, name, settings.start_timeout_s)
            echo(f"started the {name.replace('_', ' ')} (pid {record.pid})" + (f": {record.url}" if record.url else ""))
        state.write(layout)
    echo(f"ModelAtlas is up ({'sample' if sample else 'real'} mode): the Dagster UI at {settings.url}")
    echo(f"logs in {layout.logs_dir}; `modelatlas status` shows what runs, `modelatlas down` stops it")
    return state


def _start_simulator(
    settings: ServiceSettings, layout: Layout, command: Sequence[str], echo: Callable[[str], None]
) -> ServiceRecord:
    """The simulator service, once it listens and has written its variables."""
    layout.simulator_env_file.unlink(missing_ok=True)
    url = f"http://{settings.simulator_host}:{settings.simulator_port}"
    record = spawn(layout, SIMULATOR, command, os.environ, url)
    exists = layout.simulator_env_file.exists
    _wait_for("its variables written", exists, record, layout, SIMULATOR, settings.start_timeout_s)
    echo(f"started the simulator (pid {record.pid}): {url}")
    return record


def settings_url(state: State | None, settings: ServiceSettings) -> str:
    """The UI's address as `up` recorded it."""
    record = state.services.get(WEBSERVER) if state else None
    return (record.url if record and record.url else None) or settings.url


def down(settings: ServiceSettings, echo: Callable[[str], None] = print, stop_warehouse: bool = True) -> list[str]:
    """Stop what `up` started (last started first), remove the PID files, stop the embedded warehouse.

    Runs still executing are asked to stop first; any the stop interrupts are marked failed, so that their schedule
    does not wait for them after the next `up`. Queued runs stay queued until then.
    """
    layout = Layout(settings.home)
    state = State.read(layout)
    stopped: list[str] = []
    statuses = {status.name: status for status in service_statuses(layout, state)}
    instance_home = Path(state.dagster_home) if state else None
    with _restored_environ():
        for name in reversed(SERVICE_ORDER):
            status = statuses.get(name)
            if status is None:
                continue
            if status.state == "running" and status.pid is not None:
                if name == CODE_SERVER and instance_home is not None:
                    # The daemon is stopped: no run starts any more. The runs executing are the code server's
                    # children: ask them to stop before it does.
                    for line in cancel_runs(instance_home, settings.stop_timeout_s):
                        echo(line)
                killed = stop_group(status.pid, settings.stop_timeout_s)
                how = f"killed (after {settings.stop_timeout_s:.0f} s without stopping)" if killed else "stopped"
                echo(f"{how} the {name.replace('_', ' ')} (pid {status.pid})")
                stopped.append(name)
            elif status.state == "stale":
                echo(f"removed the stale PID file of the {name.replace('_', ' ')} (pid {status.pid} was not running)")
            layout.pid_file(name).unlink(missing_ok=True)
        if instance_home is not None and (stopped or statuses):
            for line in fail_orphaned_runs(instance_home):
                echo(line)
        if not stopped:
            echo("no ModelAtlas service was running")
        for path in (layout.state_file, layout.workspace_file, layout.simulator_env_file):
            path.unlink(missing_ok=True)
        if stop_warehouse:
            warehouse = Warehouse.from_env()
            if warehouse.embedded is None:
                echo("the external warehouse keeps running (ModelAtlas never stops it)")
            else:
                echo("stopped the warehouse" if warehouse.stop() else "the warehouse was not running")
    return stopped


# The Dagster instance, read in this process: the runs the services launched.


@contextlib.contextmanager
def open_instance(instance_home: Path) -> Iterator[Any]:
    """The Dagster instance in `instance_home` (its dagster.yaml), with the storage password in the environment."""
    import dagster as dg

    warehouse = Warehouse.from_env()
    os.environ[PASSWORD_ENV] = warehouse.connection().password
    with dg.DagsterInstance.from_config(str(instance_home)) as instance:
        yield instance


def _launched_runs_in_progress(instance: Any) -> list[Any]:
    import dagster as dg

    statuses = [dg.DagsterRunStatus[name] for name in IN_PROGRESS]
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=statuses))
    # Runs a code location launched; `modelatlas run` executes in its own process and has no origin.
    return [run for run in runs if run.remote_job_origin is not None]


def cancel_runs(instance_home: Path, timeout_s: float) -> list[str]:
    """Ask the runs the services launched to stop, and wait up to `timeout_s` for them to end."""
    if not (instance_home / "dagster.yaml").exists() or not _warehouse_running():
        return []
    with open_instance(instance_home) as instance:
        runs = _launched_runs_in_progress(instance)
        if not runs:
            return []
        for run in runs:
            with contextlib.suppress(Exception):
                instance.run_launcher.terminate(run.run_id)
        deadline = time.monotonic() + timeout_s
        left = runs
        while left and time.monotonic() < deadline:
            time.sleep(0.5)
            left = _launched_runs_in_progress(instance)
    line = f"asked {len(runs)} run(s) in progress to stop"
    return [line + (f"; {len(left)} still running stop with the code server" if left else "")]


def fail_orphaned_runs(instance_home: Path) -> list[str]:
    """Mark failed the runs the services launched that are still in progress while no code server runs."""
    if not (instance_home / "dagster.yaml").exists() or not _warehouse_running():
        return []
    with open_instance(instance_home) as instance:
        runs = _launched_runs_in_progress(instance)
        for run in runs:
            instance.report_run_failed(run, STOPPED_RUN_MESSAGE)
    return [f"marked {len(runs)} run(s) failed: {STOPPED_RUN_MESSAGE}"] if runs else []


def _warehouse_running() -> bool:
    warehouse = Warehouse.from_env()
    status = warehouse.status()
    return status is None or status.running


@dataclass(frozen=True)
class RunLine:
    """One run as `status` lists it."""

    job: str
    status: str
    started: datetime | None
    duration_s: float | None
    run_id: str

    def describe(self) -> str:
        """job, status, start, duration."""
        started = self.started.strftime("%Y-%m-%d %H:%M:%S") if self.started else "not started"
        duration = f"{self.duration_s:.1f} s" if self.duration_s is not None else ""
        return f"{self.job:<28} {self.status:<9} {started:<19}  {duration:>9}  {self.run_id[:8]}"


def last_runs(instance_home: Path, limit: int = 10) -> list[RunLine]:
    """The latest runs of the instance, newest first."""
    lines = []
    with open_instance(instance_home) as instance:
        for record in instance.get_run_records(limit=limit):
            run = record.dagster_run
            start, end = record.start_time, record.end_time
            duration = (end or time.time()) - start if start is not None else None
            started = datetime.fromtimestamp(start, UTC) if start is not None else None
            lines.append(RunLine(run.job_name, run.status.value, started, duration, run.run_id))
    return lines


def status(settings: ServiceSettings, sample: bool = False) -> list[str]:
    """What `modelatlas status` prints: the services, the warehouse and the last runs."""
    layout = Layout(settings.home)
    state = State.read(layout)
    sample = sample or bool(state and state.sample)
    lines = [f"ModelAtlas services ({'sample' if sample else 'real'} mode, MODELATLAS_HOME={settings.home}):"]
    statuses = service_statuses(layout, state)
    lines += [f"  {status.describe()}" for status in statuses] or ["  no service is running (`modelatlas up`)"]
    with _restored_environ():
        warehouse = Warehouse.from_env()
        if sample:
            warehouse = sample_warehouse(warehouse)
        server = warehouse.status()
        running = server is None or server.running
        lines.append(
            f"warehouse: {server.describe()}"
            if server is not None
            else f"warehouse: external, {warehouse.connection().display_url()}"
        )
        instance_home = sample_dagster_home(settings.home) if sample else dagster_home(settings.home)
        if not (instance_home / "dagster.yaml").exists():
            lines.append(f"no Dagster instance in {instance_home} yet")
        elif not running:
            lines.append("last runs: unknown while the warehouse is stopped")
        else:
            runs = last_runs(instance_home)
            lines.append(f"last {len(runs)} runs ({instance_home}):" if runs else f"no runs yet in {instance_home}")
            lines += [f"  {run.describe()}" for run in runs]
    return lines


def write_simulator_variables(path: Path, variables: Mapping[str, str]) -> None:
    """Write the simulator's variables for `up`, atomically (it waits for the file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(".tmp")
    scratch.write_text(json.dumps(dict(variables), indent=2, sort_keys=True) + "\n")
    scratch.replace(path)
