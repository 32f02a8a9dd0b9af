"""JSON logs (``virtumancer serve --log-format json``): one object per line, on stdout.

Every line has ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``; uvicorn's
access lines add the request (``client``, ``method``, ``path``, ``http_version``,
``status``) and a logged exception adds ``exception`` (its traceback, one string). The
query secrets uvicorn would log are redacted before formatting (the filters of
:mod:`virtumancer_server.cli` sit on the loggers), so the fields carry redacted values too.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.config
from typing import Any, Final

__all__ = ["ACCESS_FIELDS", "JsonFormatter", "configure_json_logging", "json_logging_config"]

#: The fields of an access line, in the order of uvicorn's access log arguments.
ACCESS_FIELDS: Final = ("client", "method", "path", "http_version", "status")


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object (see the module docstring for the fields)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        args = record.args
        if (
            record.name == "uvicorn.access"
            and isinstance(args, tuple)
            and len(args) == len(ACCESS_FIELDS)
        ):
            entry.update(zip(ACCESS_FIELDS, args, strict=True))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        # default=str: a log argument may be any object (a path, an address tuple's parts).
        return json.dumps(entry, ensure_ascii=False, default=str)


def json_logging_config(level: str = "info") -> dict[str, Any]:
    """Return the :func:`logging.config.dictConfig` of JSON logs (for uvicorn's ``log_config``).

    uvicorn's loggers and the root logger (the library's and the server's records) share
    one handler on stdout.
    """
    # uvicorn's "trace" (5) may not be registered yet when serve configures logging.
    value: int | str = 5 if level.lower() == "trace" else level.upper()
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "stream": "ext://sys.stdout",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"json": handler},
        "loggers": {
            "uvicorn": {"handlers": ["json"], "level": value, "propagate": False},
            "uvicorn.error": {"level": value},
            "uvicorn.access": {"handlers": ["json"], "level": value, "propagate": False},
        },
        "root": {"handlers": ["json"], "level": value},
    }


def configure_json_logging(level: str = "info") -> None:
    """Send every log record to stdout as JSON from now on."""
    logging.config.dictConfig(json_logging_config(level))
