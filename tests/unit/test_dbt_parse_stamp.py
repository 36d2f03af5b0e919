"""When the dbt manifest is still current: the stamp of what `dbt parse` read changes with every input."""

from __future__ import annotations

import os
from pathlib import Path

from modelatlas.assets.dbt import parse_stamp
from modelatlas.settings import dbt_connection_settings

ENV = {
    "MODELATLAS_DBT_HOST": "127.0.0.1",
    "MODELATLAS_DBT_PORT": "5433",
    "MODELATLAS_DBT_USER": "modelatlas",
    "MODELATLAS_DBT_DATABASE": "modelatlas",
    "DBT_ENV_SECRET_MODELATLAS_PASSWORD": "secret-one",
}
VARS = {"catalog_providers": ["openai"], "price_sources": ["litellm"]}


def stamp(root: Path, env: dict[str, str] = ENV, variables: dict[str, list[str]] = VARS) -> str:
    return parse_stamp(root, dbt_connection_settings(env), variables)


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
    assert stamp(root) == stamp(root, dict(ENV))


def test_editing_adding_or_removing_a_model_changes_the_stamp(tmp_path: Path) -> None:
    root = project(tmp_path)
    model = root / "models" / "staging" / "stg_a.sql"
    before = stamp(root)
    later(model)
    edited = stamp(root)
    assert edited != before
    added = root / "models" / "stg_b.sql"
    added.write_text("select 2\n")
    with_new = stamp(root)
    assert with_new != edited
    added.unlink()
    assert stamp(root) != with_new


def test_another_database_changes_the_stamp_the_password_does_not(tmp_path: Path) -> None:
    root = project(tmp_path)
    before = stamp(root)
    assert stamp(root, {**ENV, "MODELATLAS_DBT_DATABASE": "modelatlas_sample"}) != before
    assert stamp(root, {**ENV, "DBT_ENV_SECRET_MODELATLAS_PASSWORD": "secret-two"}) == before
    assert "secret-one" not in before


def test_files_outside_what_dbt_parses_do_not_count(tmp_path: Path) -> None:
    root = project(tmp_path)
    before = stamp(root)
    (root / "target").mkdir()
    (root / "target" / "run_results.json").write_text("{}")
    (root / "logs").mkdir()
    assert stamp(root) == before


def test_another_list_of_sources_changes_the_stamp(tmp_path: Path) -> None:
    root = project(tmp_path)
    assert stamp(root, variables={**VARS, "catalog_providers": ["openai", "toy"]}) != stamp(root)
