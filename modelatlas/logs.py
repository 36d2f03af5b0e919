"""One logging setup for the whole product: readable lines by default, JSON lines on request."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from modelatlas.redaction import redact
from modelatlas.settings import log_settings

LIBRARY_LOGGERS = ("dagster", "dagster.builtin", "dagster.automation_condition_tester", "dlt", "great_expectations")
_HUMAN_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class RedactingFormatter(logging.Formatter):
    """Formats records as text with every known secret replaced."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """Formats records as one JSON object per line, secrets replaced."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            # Structured lines (the API's request log): their fields beside the message, secrets replaced.
            entry.update({name: redact(value) if isinstance(value, str) else value for name, value in fields.items()})
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        # Redacted before encoding: JSON escapes quotes, backslashes and non-ASCII, hiding secrets from redact().
        return json.dumps(entry, default=str)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to `sys.stderr` as it is when a record is emitted, not as it was when logging was set up: a server
    thread still logging after its caller swapped or closed the stream it had then (a test's capture) writes to the
    current one instead of failing."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def build_formatter(log_format: str) -> logging.Formatter:
    """The formatter for a `MODELATLAS_LOG_FORMAT` value (`text` or `json`)."""
    if log_format == "json":
        return JsonFormatter()
    return RedactingFormatter(_HUMAN_FORMAT, datefmt="%H:%M:%S")


def configure_logging(level: str | None = None) -> None:
    """Send ModelAtlas and library logs to stderr in the configured format."""
    handler = StderrHandler()
    log_format, configured_level = log_settings()
    handler.setFormatter(build_formatter(log_format))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    resolved = (level or configured_level).upper()
    logging.getLogger("modelatlas").setLevel(resolved)
    # Library chatter (each dbt command Dagster starts, say) shows only when debugging.
    library_level = resolved if resolved == "DEBUG" else "WARNING"
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(library_level)
