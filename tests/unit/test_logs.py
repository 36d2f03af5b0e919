"""The logging setup: readable lines by default, one JSON object per line on request, secrets always masked."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelatlas.logs import JsonFormatter, RedactingFormatter, build_formatter, configure_logging
from modelatlas.settings import LOG_FORMAT_VARIABLE as LOG_FORMAT_ENV
from modelatlas.settings import LOG_LEVEL_VARIABLE as LOG_LEVEL_ENV

Configure = Callable[..., AbstractContextManager[None]]
log = logging.getLogger("modelatlas.tests")


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> Configure:
    """configure_logging() for the length of a `with` block; the root handlers and levels are restored after it."""
    monkeypatch.delenv(LOG_FORMAT_ENV, raising=False)
    monkeypatch.delenv(LOG_LEVEL_ENV, raising=False)

    @contextmanager
    def configure(level: str | None = None) -> Iterator[None]:
        root, package = logging.getLogger(), logging.getLogger("modelatlas")
        saved_handlers, saved_root_level, saved_package_level = list(root.handlers), root.level, package.level
        configure_logging(level)
        try:
            yield
        finally:
            for handler in list(root.handlers):
                root.removeHandler(handler)
            for handler in saved_handlers:
                root.addHandler(handler)
            root.setLevel(saved_root_level)
            package.setLevel(saved_package_level)

    return configure


def json_lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines()]


# --- JSON ---------------------------------------------------------------------------------------------------------


def test_json_lines(monkeypatch: pytest.MonkeyPatch, configured: Configure, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(LOG_FORMAT_ENV, "JSON")
    with configured():
        log.warning("loaded %d rows", 12)
        log.info("second\nline")

    entries = json_lines(capsys.readouterr().err)

    assert [(e["level"], e["logger"], e["message"]) for e in entries] == [
        ("warning", "modelatlas.tests", "loaded 12 rows"),
        ("info", "modelatlas.tests", "second\nline"),
    ]
    assert all(set(entry) == {"time", "level", "logger", "message"} for entry in entries)
    logged_at = datetime.fromisoformat(entries[0]["time"])
    assert logged_at.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - logged_at) < timedelta(minutes=1)


def test_json_lines_carry_the_exception(
    monkeypatch: pytest.MonkeyPatch, configured: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(LOG_FORMAT_ENV, "json")
    with configured():
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("the load failed")

    (entry,) = json_lines(capsys.readouterr().err)

    assert entry["message"] == "the load failed"
    assert entry["level"] == "error"
    assert entry["exception"].startswith("Traceback (most recent call last):")
    assert entry["exception"].endswith("ValueError: boom")


def test_json_lines_mask_secrets(
    monkeypatch: pytest.MonkeyPatch, configured: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(LOG_FORMAT_ENV, "json")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-0123456789")
    with configured():
        log.warning("key %s rejected by postgresql://u:pw-secret@h/db", "sk-ant-0123456789")
        try:
            raise RuntimeError("auth failed for sk-ant-0123456789")
        except RuntimeError:
            log.exception("request failed")

    err = capsys.readouterr().err
    first, second = json_lines(err)

    assert "sk-ant-0123456789" not in err
    assert "pw-secret" not in err
    assert first["message"] == "key *** rejected by postgresql://u:***@h/db"
    assert second["exception"].endswith("RuntimeError: auth failed for ***")


@pytest.mark.parametrize("secret", ['pa"ss\\word-42', "pässwort-42"])
def test_json_lines_mask_secrets_json_would_escape(
    monkeypatch: pytest.MonkeyPatch, configured: Configure, capsys: pytest.CaptureFixture[str], secret: str
) -> None:
    monkeypatch.setenv(LOG_FORMAT_ENV, "json")
    monkeypatch.setenv("MODELATLAS_WAREHOUSE_PASSWORD", secret)
    with configured():
        log.warning("the password is %s", secret)

    (entry,) = json_lines(capsys.readouterr().err)

    assert secret not in entry["message"]


# --- text ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("log_format", [None, "text", "yaml"])
def test_text_lines_are_the_default(
    monkeypatch: pytest.MonkeyPatch, configured: Configure, capsys: pytest.CaptureFixture[str], log_format: str | None
) -> None:
    if log_format is not None:
        monkeypatch.setenv(LOG_FORMAT_ENV, log_format)
    with configured():
        log.warning("loaded %d rows", 12)

    assert re.fullmatch(r"\d\d:\d\d:\d\d WARNING modelatlas.tests: loaded 12 rows\n", capsys.readouterr().err)


def test_text_lines_mask_secrets_and_carry_the_exception(
    monkeypatch: pytest.MonkeyPatch, configured: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-0123456789")
    with configured():
        try:
            raise ConnectionError("refused for sk-proj-0123456789")
        except ConnectionError:
            log.exception("cannot reach postgresql://u:pw-secret@h/db")

    err = capsys.readouterr().err

    assert "sk-proj-0123456789" not in err
    assert "pw-secret" not in err
    assert "ERROR   modelatlas.tests: cannot reach postgresql://u:***@h/db\nTraceback" in err
    assert err.rstrip().endswith("ConnectionError: refused for ***")


# --- levels and handlers ------------------------------------------------------------------------------------------


def test_modelatlas_logs_info_and_libraries_only_warnings(
    configured: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    library = logging.getLogger("some_library")
    with configured():
        log.info("ours")
        log.debug("our detail")
        library.info("their chatter")
        library.warning("their warning")

    err = capsys.readouterr().err

    assert "ours" in err
    assert "their warning" in err
    assert "our detail" not in err
    assert "their chatter" not in err


def test_the_level_comes_from_the_environment_or_the_argument(
    monkeypatch: pytest.MonkeyPatch, configured: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(LOG_LEVEL_ENV, "debug")
    with configured():
        log.debug("detail from the environment")
    with configured("warning"):
        log.info("info the argument silences")
        log.warning("warning the argument keeps")

    err = capsys.readouterr().err

    assert "detail from the environment" in err
    assert "info the argument silences" not in err
    assert "warning the argument keeps" in err


def test_configuring_twice_keeps_one_handler(configured: Configure, capsys: pytest.CaptureFixture[str]) -> None:
    with configured():
        configure_logging()
        root_handlers = list(logging.getLogger().handlers)
        log.warning("once")

    assert len(root_handlers) == 1
    assert capsys.readouterr().err.count("once") == 1


def test_build_formatter() -> None:
    assert isinstance(build_formatter("json"), JsonFormatter)
    assert isinstance(build_formatter("text"), RedactingFormatter)
    assert isinstance(build_formatter("anything else"), RedactingFormatter)


def test_log_lines_go_to_the_stderr_of_the_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    configure_logging()
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    logging.getLogger("modelatlas.test").warning("to the first")
    first.close()  # what a finished test's capture does to the stream it had
    monkeypatch.setattr(sys, "stderr", second)
    logging.getLogger("modelatlas.test").warning("to the second")
    assert "to the second" in second.getvalue()
