"""The reference tables of the docs that list sources, generated from the source specs.

`python -m modelatlas.reference` rewrites the blocks between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`
in docs/sources.md and docs/configuration.md; a test fails when they are out of date.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from modelatlas.pipelines.registry import sources
from modelatlas.pipelines.spec import SourceSpec
from modelatlas.settings import PROJECT_ROOT

DOCS = PROJECT_ROOT / "docs"


def _code(text: str) -> str:
    return f"`{text}`"


def _key(spec: SourceSpec) -> str:
    if spec.credential is None:
        return "none"
    return _code(spec.credential.env) + ("" if spec.credential.required else " (optional)")


def _endpoint(spec: SourceSpec) -> str:
    where = spec.endpoint_doc or spec.description
    if spec.base_url is not None:
        return f"{where} (`{spec.base_url}`)"
    return where


def sources_table(specs: Sequence[SourceSpec]) -> str:
    """Every source: kind, key, endpoint, raw tables, asset and schedule."""
    lines = [
        "| source | kind | key | endpoint (default base URL) | raw tables | asset, schedule (default cadence) |",
        "|---|---|---|---|---|---|",
    ]
    for spec in specs:
        tables = ", ".join(_code(f"{spec.table_dataset(table)}.{table.name}") for table in spec.tables)
        lines.append(
            f"| {spec.display_name} (`{spec.name}`) | {spec.kind} | {_key(spec)} | {_endpoint(spec)} | {tables} "
            f"| `{spec.dataset}`, `{spec.name}_schedule` (`{spec.cadence}`) |"
        )
    return "\n".join(lines)


def _variables(spec: SourceSpec) -> Iterable[tuple[str, str, str]]:
    """(variable, default, what it does) of every setting of one source."""
    if spec.credential is not None:
        default = "unset: the source is skipped" if spec.credential.required else "unset: anonymous requests"
        yield spec.credential.env, default, f"the {spec.display_name} key, sent in `{spec.credential.header}`"
    if spec.base_url is not None:
        yield spec.variable("BASE_URL"), _code(spec.base_url), f"where the {spec.display_name} API is"
        yield spec.variable("REGION"), "`global`", f"the region label stored with every {spec.display_name} row"
    yield spec.variable("CRON"), _code(spec.cadence), f"when `{spec.name}_schedule` loads {spec.display_name} (UTC)"
    for setting in spec.settings:
        default = _code(setting.default) if setting.default else "empty"
        yield spec.variable(setting.suffix), default, f"{spec.display_name}: {setting.description}"


def configuration_table(specs: Sequence[SourceSpec]) -> str:
    """Every environment variable of every source."""
    lines = ["| variable | default | what it sets |", "|---|---|---|"]
    for spec in specs:
        lines += [f"| `{name}` | {default} | {what} |" for name, default, what in _variables(spec)]
    return "\n".join(lines)


def with_block(text: str, name: str, content: str) -> str:
    """`text` with its generated block `name` replaced by `content`."""
    pattern = re.compile(rf"(<!-- generated:{name} -->\n).*?(\n<!-- /generated:{name} -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"no generated:{name} block")
    return pattern.sub(lambda match: match.group(1) + content + match.group(2), text)


def generated_pages(specs: Sequence[SourceSpec], docs: Path = DOCS) -> dict[Path, str]:
    """The docs pages with their generated blocks as the specs say."""
    sources_page = docs / "sources.md"
    configuration_page = docs / "configuration.md"
    return {
        sources_page: with_block(sources_page.read_text(), "sources", sources_table(specs)),
        configuration_page: with_block(configuration_page.read_text(), "configuration", configuration_table(specs)),
    }


def main() -> int:
    """Rewrite the generated blocks of the docs from the source specs."""
    for path, text in generated_pages(sources()).items():
        if path.read_text() != text:
            path.write_text(text)
            sys.stdout.write(f"updated {path.relative_to(PROJECT_ROOT)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
