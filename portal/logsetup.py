"""Structured logs for every process: JSON lines in production, readable lines in the demo.

One handler on the root logger, formatted by structlog's ProcessorFormatter, so records from
every library (gunicorn, Sanic, Rasa, twilio, ours) come out the same way. Each line carries
the process name and, when one is bound, the correlation id (portal/correlation.py). Every
string field is passed through the privacy redaction, not only the message.

LOG_FORMAT=json|text chooses; the default is text in the demo/test and JSON in production.
"""
from __future__ import annotations

import logging
import os
import sys
from typing import Any, Dict, Mapping, Optional

import structlog

from portal import logredact
from portal.privacy import redact_citizen_text, redact_log_text

FORMATS = ("json", "text")
_HANDLER_MARK = "_assistant_structured"
# Fields our own processors add, never personal data; everything else is redacted.
OWN_FIELDS = ("timestamp", "level", "logger", "process", "pid", "correlation_id")
# Fields holding what a citizen wrote: personal codes (4-8 digits) are masked there too.
CITIZEN_TEXT_FIELDS = logredact.CITIZEN_TEXT_FIELDS


def log_format(env: Mapping[str, str] = os.environ) -> str:
    """json or text: LOG_FORMAT when set, else text in the demo and test, JSON in production."""
    chosen = (env.get("LOG_FORMAT") or "").strip().lower()
    if chosen in FORMATS:
        return chosen
    environment = (env.get("ASSISTANT_ENV") or "production").strip().lower()
    return "text" if environment in ("demo", "test") else "json"


def _redact_value(value: Any, redact=redact_log_text) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v, redact) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_value(v, redact) for v in value]
    return value


def redact_fields(_logger: Any, _name: str, event: Dict[str, Any]) -> Dict[str, Any]:
    """structlog processor: every string field, nested ones too, is redacted."""
    return {key: value if key in OWN_FIELDS else
            _redact_value(value, redact_citizen_text if key in CITIZEN_TEXT_FIELDS
                          else redact_log_text) for key, value in event.items()}


def _add_process(process: str):
    def add(_logger: Any, _name: str, event: Dict[str, Any]) -> Dict[str, Any]:
        event.setdefault("process", process)
        event.setdefault("pid", os.getpid())
        return event
    return add


def _add_exception(_logger: Any, _name: str, event: Dict[str, Any]) -> Dict[str, Any]:
    """The traceback logredact rendered (and masked) into the record's exc_text."""
    record = event.get("_record")
    if record is not None and getattr(record, "exc_text", None):
        event["exception"] = record.exc_text
    return event


def formatter(process: str, fmt: Optional[str] = None) -> logging.Formatter:
    """The formatter every handler of `process` uses."""
    fmt = fmt or log_format()
    pre_chain = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_process(process),
        _add_exception,
    ]
    if fmt == "json":
        renderer: Any = structlog.processors.JSONRenderer(sort_keys=False, ensure_ascii=False)
        final = [structlog.processors.format_exc_info, redact_fields, renderer]
    else:
        final = [redact_fields, structlog.dev.ConsoleRenderer(colors=False)]
    return structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
        foreign_pre_chain=pre_chain)


def configure(process: str, level: int = logging.INFO, fmt: Optional[str] = None,
              stream=None) -> None:
    """Makes the root logger write structured lines for `process`; calling again replaces it.

    Handlers others installed on the root logger (basicConfig, coloredlogs) are replaced, so
    nothing is printed twice or unformatted.
    """
    logredact.install()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(process, fmt))
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger, cache_logger_on_first_use=False)


def restyle(logger: logging.Logger, process: str) -> None:
    """Gives a library's own handlers (gunicorn's) the structured formatter."""
    for handler in logger.handlers:
        handler.setFormatter(formatter(process))
