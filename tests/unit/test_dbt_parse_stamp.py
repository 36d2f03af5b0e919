"""When the dbt manifest is still current: the stamp of what `dbt parse` read changes with every input."""

from __future__ import annotations

import os
from pathlib import Path

from modelatlas.assets.dbt import parse_stamp

ENV = {
    "MODELATLAS_DBT_HOST": "127.0.0.1",
    "MODELATLAS_DBT_PORT": "5433",
    "MODELATLAS_DBT_USER": "modelatlas",
    "MODELATLAS_DBT_DATABASE": "modelatlas",
    "DBT_ENV_SECRET_MODELATLAS_PASSWORD": "secret-one",
}


def project(tmp_path: Path) -> Path:
    (tmp_path / "models" / "staging").mkdir(parents=True)
    (tmp_path / "dbt_project.yml").write_text("name: x\n")
    (tmp_path / "models" / "staging" / "stg_a.sql").write_text("select 1\n")
    return tmp_path


def later(path: Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_the_stamp_is_stable_while_nothing_changes(tmp_path: Path) -> None:
    root = project(tmp_path)
    assert parse_stamp(root, ENV) == parse_stamp(root, dict(ENV))


def test_editing_adding_or_removing_a_model_changes_the_stamp(tmp_path: Path) -> None:
    root = project(tmp_path)
    model = root / "models" / "staging" / "stg_a.sql"
    before = parse_stamp(root, ENV)
    later(model)
    edited = parse_stamp(root, ENV)
    assert edited != before
    added = root / "models" / "stg_b.sql"
    added.write_text("select 2\n")
    with_new = parse_stamp(root, ENV)
    assert with_new != edited
    added.unlink()
    assert parse_stamp(root, ENV) != with_new


def test_another_database_changes_the_stamp_the_password_does_not(tmp_path: Path) -> None:
    root = project(tmp_path)
    before = parse_stamp(root, ENV)
    assert parse_stamp(root, {**ENV, "MODELATLAS_DBT_DATABASE": "modelatlas_sample"}) != before
    assert parse_stamp(root, {**ENV, "DBT_ENV_SECRET_MODELATLAS_PASSWORD": "secret-two"}) == before
    assert "secret-one" not in before


def test_files_outside_what_dbt_parses_do_not_count(tmp_path: Path) -> None:
    root = project(tmp_path)
    before = parse_stamp(root, ENV)
    (root / "target").mkdir()
    (root / "target" / "run_results.json").write_text("{}")
    (root / "logs").mkdir()
    assert parse_stamp(root, ENV) == before
