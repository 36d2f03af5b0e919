"""The dbt project as Dagster assets: each model downstream of the raw asset it reads, tests as checks."""

import json
import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from functools import cached_property
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from modelatlas.resources import WarehouseResource
from modelatlas.settings import DBT_PROJECT_DIR, tool_path

KEPT_DBT_INVOCATIONS = 5
dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# What `dbt parse` reads: a manifest newer than all of it, parsed for the same connection, is still current.
PARSED_INPUTS = (
    "dbt_project.yml",
    "profiles.yml",
    "packages.yml",
    "models",
    "macros",
    "seeds",
    "snapshots",
    "tests",
    "analyses",
)
# The connection settings land in the manifest (every node's database); the password never does.
PARSED_ENV = ("MODELATLAS_DBT_HOST", "MODELATLAS_DBT_PORT", "MODELATLAS_DBT_USER", "MODELATLAS_DBT_DATABASE")
PARSE_STAMP = "modelatlas-parse.stamp"


class ModelAtlasDbtCliResource(DbtCliResource):
    """dagster-dbt's CLI resource, knowing the dbt version without starting `dbt --version` every invocation."""

    @cached_property
    def _cli_version(self) -> Any:
        # The dbt beside this interpreter is the dbt-core package installed here: read its version instead of
        # paying a second dbt start (seconds) on every cycle. Any other executable is asked as usual.
        if Path(self.dbt_executable).parent == Path(sys.executable).parent:
            from packaging import version

            return version.parse(installed_version("dbt-core"))
        return super()._cli_version


def dbt_resource() -> DbtCliResource:
    """The dbt CLI resource for this project."""
    # The pydantic plugin types project_dir as the field (str); dagster-dbt accepts a DbtProject there too.
    return ModelAtlasDbtCliResource(project_dir=dbt_project, dbt_executable=tool_path("dbt"))  # type: ignore[arg-type]


def parse_stamp(project_dir: Path, env: Mapping[str, str]) -> str:
    """What a manifest depends on: the newest file or folder dbt parses, how many there are, the connection."""
    newest = 0
    entries = 0
    for name in PARSED_INPUTS:
        path = project_dir / name
        if not path.exists():
            continue
        # Folders count too: adding, removing or renaming a file changes its folder's time.
        for entry in [path, *path.rglob("*")] if path.is_dir() else [path]:
            newest = max(newest, entry.stat().st_mtime_ns)
            entries += 1
    return json.dumps({"newest": newest, "entries": entries, "env": {key: env.get(key, "") for key in PARSED_ENV}})


def prepare_manifest(force: bool = False) -> bool:
    """Build `target/manifest.json` with `dbt parse` when missing or out of date (always with `force`).

    True when it parsed. dbt takes seconds to parse; a cycle every few minutes should not pay that each time.
    """
    manifest = dbt_project.manifest_path
    stamp_file = manifest.with_name(PARSE_STAMP)
    stamp = parse_stamp(dbt_project.project_dir, os.environ)
    if not force and manifest.exists() and stamp_file.exists() and stamp_file.read_text() == stamp:
        return False
    dbt_resource().cli(["parse", "--quiet"], target_path=dbt_project.target_path).wait()
    stamp_file.write_text(stamp)
    return True


def prune_invocation_folders(target: Path, keep: int = KEPT_DBT_INVOCATIONS) -> list[Path]:
    """Remove all but the newest `keep` per-invocation target folders; return what was removed.

    dagster-dbt gives every `dbt build` its own folder under target/; on a 5-minute schedule they would pile up.
    """
    folders = sorted(target.glob("modelatlas_dbt_models-*"), key=lambda path: path.stat().st_mtime, reverse=True)
    removed = folders[keep:]
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed


class ModelAtlasDbtTranslator(DagsterDbtTranslator):
    """Asset keys `[schema, model]` and one group per layer (staging, intermediate, marts)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] in ("model", "snapshot", "seed"):
            return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        return str(fqn[1]) if len(fqn) > 2 else "dbt"


translator = ModelAtlasDbtTranslator(
    settings=DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_source_tests_as_checks=True)
)


def build_dbt_assets() -> dg.AssetsDefinition:
    """The @dbt_assets definition, reading the manifest (built first if missing)."""
    # Under `dagster dev` every code reload re-parses, so model edits show up without a restart.
    prepare_manifest(force=dbt_project.preparer.using_dagster_dev())

    @dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, dagster_dbt_translator=translator)
    def modelatlas_dbt_models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
    ) -> Iterator[Any]:
        """Build the selected dbt models and run their tests."""
        # DbtCliResource passes this process's environment to dbt; profiles.yml reads the connection from it.
        os.environ.update(warehouse.connection().dbt_env())
        yield from dbt.cli(["build"], context=context).stream()
        prune_invocation_folders(dbt_project.project_dir / dbt_project.target_path)

    return modelatlas_dbt_models
