"""The `modelatlas` command against the session warehouse: sql, warehouse, run and dbt."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from modelatlas.cli import EXIT_INTERRUPTED, main
from modelatlas.services import listening, stop_group
from modelatlas.settings import PROJECT_ROOT
from modelatlas.warehouse import ConnectionInfo, Warehouse, read_only_query
from tests.conftest import free_port


def test_sql_prints_csv_with_a_header(connection: ConnectionInfo, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sql", "select 1 as one, null as nothing, 'a,b' as text union all select 2, 'x', 'c'"])
    assert code == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows == [["one", "nothing", "text"], ["1", "", "a,b"], ["2", "x", "c"]]


def test_sql_refuses_writes_with_a_clear_error(connection: ConnectionInfo, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "create table public.nope (id int)"]) == 2
    assert "read-only transaction" in capsys.readouterr().err


def test_sql_reports_bad_queries_without_a_traceback(
    connection: ConnectionInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sql", "select * from no_such_table"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("modelatlas: the query failed") and "no_such_table" in err
    assert "Traceback" not in err


def test_warehouse_url_and_status(
    warehouse: Warehouse, connection: ConnectionInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["warehouse", "url"]) == 0
    assert capsys.readouterr().out.strip() == connection.url()
    assert main(["warehouse", "status"]) == 0
    assert f"running on 127.0.0.1:{connection.port}" in capsys.readouterr().out
    assert main(["warehouse", "start"]) == 0
    out = capsys.readouterr().out
    assert "warehouse ready" in out and connection.password not in out


def test_warehouse_stop_then_sql_starts_it_again(warehouse: Warehouse, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["warehouse", "stop"]) == 0
    assert "warehouse stopped" in capsys.readouterr().out
    assert main(["warehouse", "status"]) == 0
    assert "stopped" in capsys.readouterr().out
    assert main(["sql", "select 42 as answer"]) == 0
    assert capsys.readouterr().out.splitlines() == ["answer", "42"]


def test_a_bad_setting_is_an_error_message_not_a_traceback(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODELATLAS_WAREHOUSE_PORT", "not-a-port")
    assert main(["warehouse", "status"]) == 2
    assert "MODELATLAS_WAREHOUSE_PORT='not-a-port' is not a port number" in capsys.readouterr().err


def test_dbt_passthrough_reaches_the_warehouse(connection: ConnectionInfo, tmp_path: Path) -> None:
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "modelatlas"), "dbt", "--", "debug"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},
    )
    assert completed.returncode == 0, completed.stdout[-2000:]
    assert "All checks passed" in completed.stdout
    assert connection.password not in completed.stdout + completed.stderr


def test_the_installed_entry_point_runs(connection: ConnectionInfo) -> None:
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "modelatlas"), "sql", "select current_database() as db"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == ["db", "modelatlas"]


RUN_COMMAND = [str(Path(sys.executable).parent / "modelatlas"), "run"]


@pytest.fixture(scope="module")
def counts_of_a_whole_run(connection: ConnectionInfo) -> tuple[int, int, int]:
    """The mart's counts after a whole `modelatlas run`; each interrupted run's next run must end with them again."""
    assert subprocess.run(RUN_COMMAND, capture_output=True, timeout=600).returncode == 0
    return _mart_counts(connection)


@pytest.mark.parametrize("delay_s", [4.0, 9.0])
def test_an_interrupted_run_is_followed_by_a_run_with_the_same_counts(
    connection: ConnectionInfo, counts_of_a_whole_run: tuple[int, int, int], delay_s: float
) -> None:
    process = subprocess.Popen(RUN_COMMAND, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(delay_s)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=300)
    assert process.returncode in (0, EXIT_INTERRUPTED), output
    if process.returncode == EXIT_INTERRUPTED:
        assert "interrupted" in output.lower()
        assert "Traceback" not in output
    after_rerun = subprocess.run(RUN_COMMAND, capture_output=True, text=True, timeout=600)
    assert after_rerun.returncode == 0, after_rerun.stdout[-3000:]
    assert _mart_counts(connection) == counts_of_a_whole_run


def test_make_docs_generates_the_dbt_docs_and_serves_them(
    connection: ConnectionInfo, counts_of_a_whole_run: tuple[int, int, int]
) -> None:
    port = free_port()
    make = subprocess.Popen(
        ["make", "--no-print-directory", "docs", f"PORT={port}"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not listening("127.0.0.1", port):
            assert make.poll() is None, make.communicate()[0].decode()[-3000:]
            assert time.monotonic() < deadline, "make docs served nothing in 300 s"
            time.sleep(1)
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=30)
        assert page.status_code == 200 and "dbt" in page.text.lower()
        catalog = httpx.get(f"http://127.0.0.1:{port}/catalog.json", timeout=30).json()
        # The catalog is read from the warehouse: the built marts with their columns.
        assert "price_usd_per_mtok" in catalog["nodes"]["model.modelatlas.mart_model_prices_current"]["columns"]
        manifest = httpx.get(f"http://127.0.0.1:{port}/manifest.json", timeout=30)
        assert "model.modelatlas.dim_models" in manifest.json()["nodes"]
        assert connection.password not in manifest.text
    finally:
        stop_group(make.pid, 10)


def _mart_counts(connection: ConnectionInfo) -> tuple[int, int, int]:
    _, rows = read_only_query(
        connection,
        "select count(*), count(distinct provider), "
        "count(distinct (provider, provider_model_id, component, condition)) from marts.mart_model_prices_current",
    )
    total, providers, keys = rows[0]
    assert total == keys, "duplicate keys in the mart"
    return int(total), int(providers), int(keys)
