"""The worker's log lines: credentials masked on every handler, and one JSON object a line
when ``EARMARK_LOG_FORMAT`` is ``json`` (the default when stderr is not a terminal), so that a
log pipeline reads time, level, message, the node and the job without parsing text."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime

from producer.redact import RedactingFilter
from producer.settings import Settings

#: Fields a log call may add with ``extra=`` that the JSON line carries.
CONTEXT_FIELDS = ("job_id", "batch_id")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ms), level, logger, message, node, pid, context."""

    def __init__(self, node_name: str) -> None:
        super().__init__()
        self.node_name = node_name

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON (its traceback, if any, in ``exc``)."""
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "node": self.node_name,
            "pid": record.process or os.getpid(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = record.exc_text
        return json.dumps(line, default=str)


def wants_json(settings: Settings) -> bool:
    """Whether log lines are JSON: as set, else when stderr is not a terminal."""
    if settings.log_format == "auto":
        return not sys.stderr.isatty()
    return settings.log_format == "json"


def dress_handlers(logger: logging.Logger, node_name: str, as_json: bool) -> None:
    """Mask credentials on every handler of `logger`, and format its lines as JSON if asked."""
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
        if as_json:
            handler.setFormatter(JsonFormatter(node_name))
