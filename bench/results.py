"""Benchmark results: checks against targets, the markdown table, and the JSON and markdown files."""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

Comparison = Literal["<", "<=", "==", ">="]
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": lambda value, limit: value < limit,
    "<=": lambda value, limit: value <= limit,
    "==": lambda value, limit: value == limit,
    ">=": lambda value, limit: value >= limit,
}


@dataclass(frozen=True)
class Target:
    """A limit a figure must keep: `value <op> limit`, shown with its unit."""

    op: Comparison
    limit: float
    unit: str = ""

    def met(self, value: float | None) -> bool:
        """Whether `value` keeps the limit; a missing value never does."""
        return value is not None and _COMPARE[self.op](value, self.limit)

    def describe(self) -> str:
        """The target as the table shows it, e.g. `<= 2x`."""
        return f"{self.op} {format_number(self.limit)}{self.unit}"


@dataclass(frozen=True)
class Check:
    """One figure of one measure, with its target when it has one."""

    measure: int
    name: str
    value: float | None
    unit: str = ""
    target: Target | None = None
    note: str = ""

    @property
    def status(self) -> str:
        """`met`, `missed`, or `reported` for a figure without a target."""
        if self.target is None:
            return "reported"
        return "met" if self.target.met(self.value) else "missed"

    def figure(self) -> str:
        """The figure with its unit, e.g. `1.74x`."""
        return "n/a" if self.value is None else f"{format_number(self.value)}{self.unit}"


@dataclass
class MeasureResult:
    """What one measure found: its checks and the raw numbers behind them."""

    measure: int
    title: str
    checks: list[Check] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def format_number(value: float) -> str:
    """A figure with sensible precision: 3 significant digits below 100, thousands separated above."""
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def median(samples: Sequence[float]) -> float:
    """The median of timing samples (at least one)."""
    if not samples:
        raise ValueError("median of no samples")
    return float(statistics.median(samples))


def percentile(samples: Sequence[float], share: float) -> float:
    """The `share` percentile (0-1) of samples, by linear interpolation between closest ranks."""
    if not samples:
        raise ValueError("percentile of no samples")
    ordered = sorted(samples)
    position = (len(ordered) - 1) * share
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(results: Sequence[MeasureResult]) -> str:
    """Every check of every measure as one markdown table."""
    lines = ["| # | measure | figure | target | status | note |", "|---|---|---|---|---|---|"]
    for result in results:
        if result.error is not None:
            lines.append(f"| {result.measure} | {_cell(result.title)} | n/a | | error | {_cell(result.error)} |")
            continue
        for check in result.checks:
            target = check.target.describe() if check.target else ""
            lines.append(
                f"| {check.measure} | {_cell(check.name)} | {check.figure()} | {target} | {check.status} "
                f"| {_cell(check.note)} |"
            )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """The machine the run measured: cores, memory, CPU model, Python and OS."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory_gib = round(pages / 2**30, 1)
    except (OSError, ValueError):
        pass
    return {
        "nproc": os.cpu_count(),
        "memory_gib": memory_gib,
        "cpu": cpu,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        # Other work on a shared machine slows every figure: the 1, 5 and 15-minute load averages as the run ended.
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }


def machine_line(info: dict[str, Any]) -> str:
    """The machine as one line for the benchmarks page and the report."""
    line = f"{info['nproc']} cores (nproc), {info['memory_gib']} GiB RAM, {info['cpu']}, Python {info['python']}"
    if info.get("load_average"):
        line += f", load average {' / '.join(f'{value:g}' for value in info['load_average'])} at the end"
    return line


def render_markdown(results: Sequence[MeasureResult], info: dict[str, Any], mode: str, started: datetime) -> str:
    """The markdown report: when and where it ran, then the table."""
    return (
        f"# ModelAtlas benchmark ({mode})\n\n"
        f"Run {started.strftime('%Y-%m-%d %H:%M UTC')} on {machine_line(info)}.\n\n"
        f"{markdown_table(results)}\n"
    )


def to_json(results: Sequence[MeasureResult], info: dict[str, Any], mode: str, started: datetime) -> dict[str, Any]:
    """The whole run as JSON-ready data: machine, mode, every check with its status, and the details."""
    measures = []
    for result in results:
        data = asdict(result)
        for check, raw in zip(result.checks, data["checks"], strict=True):
            raw["status"] = check.status
            raw["target"] = check.target.describe() if check.target else None
        measures.append(data)
    return {
        "started_at": started.astimezone(UTC).isoformat(timespec="seconds"),
        "mode": mode,
        "machine": info,
        "measures": measures,
    }


def write_results(
    results: Sequence[MeasureResult], directory: Path, mode: str, started: datetime, stem: str = "latest"
) -> tuple[Path, Path]:
    """Write `<stem>.json` and `<stem>.md` into `directory`; return both paths."""
    info = machine()
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / f"{stem}.json"
    md_path = directory / f"{stem}.md"
    json_path.write_text(json.dumps(to_json(results, info, mode, started), indent=2, default=str) + "\n")
    md_path.write_text(render_markdown(results, info, mode, started))
    return json_path, md_path


def table_from_json(measures: Sequence[dict[str, Any]]) -> str:
    """The markdown table of measures as `to_json` wrote them."""
    lines = ["| # | measure | figure | target | status | note |", "|---|---|---|---|---|---|"]
    for measure in measures:
        if measure.get("error"):
            lines.append(
                f"| {measure['measure']} | {_cell(measure['title'])} | n/a | | error | {_cell(measure['error'])} |"
            )
            continue
        for check in measure["checks"]:
            value = check["value"]
            figure = "n/a" if value is None else f"{format_number(value)}{check['unit']}"
            lines.append(
                f"| {check['measure']} | {_cell(check['name'])} | {figure} | {check['target'] or ''} "
                f"| {check['status']} | {_cell(check['note'])} |"
            )
    return "\n".join(lines)


def merge_runs(base: dict[str, Any], newer: dict[str, Any]) -> dict[str, Any]:
    """`base` with the measures `newer` ran replaced by newer's, each measure saying when it ran and the machine's
    load averages as its run ended."""
    for run in (base, newer):
        for measure in run["measures"]:
            measure.setdefault("ran_at", run["started_at"])
            measure.setdefault("load_average", run["machine"].get("load_average"))
    replaced = {measure["measure"] for measure in newer["measures"]}
    kept = [measure for measure in base["measures"] if measure["measure"] not in replaced]
    merged = dict(base)
    merged["measures"] = sorted([*kept, *newer["measures"]], key=lambda measure: int(measure["measure"]))
    return merged


def write_merged(directory: Path, newer_path: Path, stem: str = "latest") -> tuple[Path, Path]:
    """Merge the measures of `newer_path` into `<stem>.json` and rewrite `<stem>.md` from the merged runs."""
    json_path, md_path = directory / f"{stem}.json", directory / f"{stem}.md"
    merged = merge_runs(json.loads(json_path.read_text()), json.loads(newer_path.read_text()))
    json_path.write_text(json.dumps(merged, indent=2, default=str) + "\n")
    runs = sorted({(measure["ran_at"], tuple(measure.get("load_average") or ())) for measure in merged["measures"]})
    times = [f"{at} (load average {' / '.join(f'{v:g}' for v in load)})" if load else at for at, load in runs]
    machine = {name: value for name, value in merged["machine"].items() if name != "load_average"}
    md_path.write_text(
        f"# ModelAtlas benchmark ({merged['mode']})\n\n"
        f"Run {', '.join(times)} on {machine_line(machine)}.\n\n"
        f"{table_from_json(merged['measures'])}\n"
    )
    return json_path, md_path


RESULTS_START = "<!-- bench:latest -->"
RESULTS_END = "<!-- /bench:latest -->"


def page_with_results(page: str, report: str) -> str:
    """`page` with the text between its benchmark markers replaced by `report`'s run line and table."""
    start, end = page.find(RESULTS_START), page.find(RESULTS_END)
    if start < 0 or end < start:
        raise ValueError(f"the page has no {RESULTS_START} ... {RESULTS_END} section for the benchmark table")
    run_line = next(line for line in report.splitlines() if line.startswith("Run "))
    table = report[report.index("| # |") :].strip()
    block = (
        f"{RESULTS_START}\nThe latest full run (`bench/results/latest.md`), {run_line[len('Run ') :]}\n"
        "Other work may share these machines, so absolute times are noisy; the ratios are what counts.\n\n"
        f"{table}\n"
    )
    return page[:start] + block + page[end:]
