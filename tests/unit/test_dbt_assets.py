"""Housekeeping of dbt's per-invocation target folders."""

from __future__ import annotations

import os
from pathlib import Path

from modelatlas.assets.dbt import prune_invocation_folders


def test_only_the_newest_invocation_folders_are_kept(tmp_path: Path) -> None:
    folders = []
    for age in range(8):
        folder = tmp_path / f"modelatlas_dbt_models-{age:03d}"
        folder.mkdir()
        (folder / "run_results.json").write_text("{}")
        os.utime(folder, (1_000_000 - age, 1_000_000 - age))
        folders.append(folder)
    (tmp_path / "manifest.json").write_text("{}")

    removed = prune_invocation_folders(tmp_path, keep=3)

    assert sorted(removed) == folders[3:]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "manifest.json",
        "modelatlas_dbt_models-000",
        "modelatlas_dbt_models-001",
        "modelatlas_dbt_models-002",
    ]
