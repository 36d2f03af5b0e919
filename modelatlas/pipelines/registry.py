"""Every source ModelAtlas reads: each module of `modelatlas.pipelines` that declares a `SPEC` is one.

Adding a source is adding its module; nothing else lists sources. Whatever needs the list (assets, schedules, the
simulator, redaction, dbt's vars, the docs) asks `sources()`. A source defined elsewhere joins with `register`.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Iterator

from modelatlas.pipelines.spec import SourceSpec

_registered: list[SourceSpec] = []


@functools.cache
def _discovered() -> tuple[SourceSpec, ...]:
    import modelatlas.pipelines as package

    found = []
    for module in pkgutil.iter_modules(package.__path__):
        spec = getattr(importlib.import_module(f"{package.__name__}.{module.name}"), "SPEC", None)
        if isinstance(spec, SourceSpec):
            found.append(spec)
    return tuple(sorted(found, key=lambda spec: spec.name))


def sources() -> tuple[SourceSpec, ...]:
    """Every source: the discovered ones by name, then the registered ones in order."""
    return (*_discovered(), *_registered)


def register(spec: SourceSpec) -> None:
    """Add a source defined outside `modelatlas.pipelines`."""
    if any(existing.name == spec.name for existing in sources()):
        raise ValueError(f"a source named {spec.name!r} already exists")
    _registered.append(spec)


def unregister(spec: SourceSpec) -> None:
    """Remove a source added with `register`."""
    _registered.remove(spec)


def source(name: str) -> SourceSpec:
    """One source by name."""
    for spec in sources():
        if spec.name == name:
            return spec
    raise KeyError(f"no source named {name!r}; the sources are {', '.join(s.name for s in sources())}")


def secret_variables() -> Iterator[str]:
    """The variables of every source whose values are secrets."""
    for spec in sources():
        yield from spec.secret_variables()


def dbt_vars() -> dict[str, list[str]]:
    """The source lists dbt's union models read: catalogs (a `models` table) and price sources (`price_points`)."""
    return {
        "catalog_providers": [spec.name for spec in sources() if spec.kind == "catalog"],
        "price_sources": [spec.name for spec in sources() if any(t.name == "price_points" for t in spec.tables)],
    }
