"""Measure 19's pure parts: hey's per-request CSV, its command line, and the checks against the targets."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.measures.api import CLIENTS, LoadFigures, Scenario, checks, hey_command, merge, parse_hey_csv

CSV = """response-time,DNS+dialup,DNS,Request-write,Response-delay,Response-read,status-code,offset
0.0100,0.0001,0,0,0.0099,0,200,0.0
0.0200,0,0,0,0.0199,0,200,0.5
0.0300,0,0,0,0.0299,0,200,1.0
0.0400,0,0,0,0.0399,0,503,1.96
"""


def test_hey_csv_gives_percentiles_errors_and_the_rate_of_good_answers() -> None:
    figures = parse_hey_csv(CSV)
    assert figures.requests == 4 and figures.errors == 1
    assert figures.seconds == pytest.approx(2.0)
    assert figures.p50_ms == pytest.approx(25.0)
    assert figures.p95_ms == pytest.approx(38.5)
    assert figures.throughput == pytest.approx(1.5)


def test_clients_side_by_side_merge_into_one_distribution() -> None:
    first, second = parse_hey_csv(CSV), parse_hey_csv(CSV.replace("0.0100,", "0.0900,"))
    merged = merge([first, second], seconds=2.0)
    assert merged.requests == 8 and merged.errors == 2
    assert merged.throughput == pytest.approx(3.0)
    assert merged.p50_ms == pytest.approx(30.0)
    assert merged.p99_ms == pytest.approx(sorted(first.latencies_ms + second.latencies_ms)[-1], rel=0.1)


def test_an_empty_csv_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="no request"):
        parse_hey_csv("response-time,DNS+dialup,DNS,Request-write,Response-delay,Response-read,status-code,offset\n")


def test_hey_paces_each_client_and_posts_a_body(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    paced = hey_command("http://h/v2/models", "ma_k", None, 6, 6.0)
    assert paced[:1] == ["/usr/bin/hey"] and paced[-1] == "http://h/v2/models"
    assert paced[paced.index("-q") + 1] == "6.0" and paced[paced.index("-c") + 1] == str(CLIENTS)
    assert "Authorization: Bearer ma_k" in paced and "-m" not in paced
    posted = hey_command("http://h/graphql", "ma_k", Path("/tmp/body.json"), 6, None)
    assert "-q" not in posted and posted[posted.index("-m") + 1] == "POST"
    assert posted[posted.index("-D") + 1] == "/tmp/body.json"


def test_only_the_rest_reads_have_targets() -> None:
    fast = LoadFigures(latencies_ms=[5.0] * 1700 + [20.0] * 100, errors=0, seconds=6.0)
    slow = LoadFigures(latencies_ms=[60.0] * 500 + [90.0] * 100, errors=0, seconds=6.0)
    runs = [Scenario("rest", "/v2/models"), Scenario("graphql", "/graphql", {"query": "{}"}, rest=False)]
    found = checks({"rest": fast, "graphql": slow}, {"rest": slow, "graphql": slow}, runs, "note")
    statuses = {check.name: check.status for check in found}
    assert statuses["rest at 300/s: p95 latency"] == "met"
    assert statuses["rest at 300/s: rate kept"] == "met"
    assert statuses["rest: throughput, clients without pause"] == "missed"
    assert {statuses[name] for name in statuses if name.startswith("graphql")} == {"reported"}
