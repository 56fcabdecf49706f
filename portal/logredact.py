"""One log redaction for every process: message, traceback and stack info are masked.

Installed as the logging record factory, so it applies to every logger and every handler
(gunicorn, Rasa's, the SMS worker's) before anything formats or ships a record.
"""
from __future__ import annotations

import logging
from typing import Any

from portal.privacy import redact_citizen_text, redact_log_text

_FORMATTER = logging.Formatter()
# Fields of Rasa's debug log holding what a citizen wrote (the parsed text, the rule policy's
# and memoization's states). Rasa renders its structlog events into the record's message, so a
# line naming one of them loses personal codes (4-8 digits) too.
CITIZEN_TEXT_FIELDS = ("parse_data_text", "current_states", "tracker_states")


def _redact_message(message: str) -> str:
    if any(field in message for field in CITIZEN_TEXT_FIELDS):
        return redact_citizen_text(message)
    return redact_log_text(message)
_MARKER = "_assistant_redacting"


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Masks a record in place: its message, its formatted exception and its stack info."""
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: logging reports it itself later
        message = None
    if message is not None:
        record.msg, record.args = _redact_message(message), None
    if record.exc_info:
        # Formatters reuse exc_text when there is one; drop exc_info so none re-renders it.
        record.exc_text = _FORMATTER.formatException(record.exc_info)
        record.exc_info = None
    if record.exc_text:
        record.exc_text = redact_log_text(record.exc_text)
    if record.stack_info:
        record.stack_info = redact_log_text(record.stack_info)
    return record


def install() -> None:
    """Every log record created from now on is redacted; installing twice changes nothing."""
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, _MARKER, False):
        return

    def redacting_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(make_record(*args, **kwargs))

    setattr(redacting_record, _MARKER, True)
    logging.setLogRecordFactory(redacting_record)
