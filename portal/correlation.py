"""The correlation id that follows one message through every process.

Born where a message enters (the Twilio webhook, a web chat message, any portal request
without one), stored on the inbound and outbox rows, passed on as the `X-Correlation-Id`
header and in Rasa's UserMessage metadata, and bound to every log line while it is current.
"""
from __future__ import annotations

import re
import uuid
from contextlib import contextmanager
from typing import Iterator, Optional

import structlog

HEADER = "X-Correlation-Id"
METADATA_KEY = "correlation_id"
KEY = "correlation_id"
_VALID = re.compile(r"[A-Za-z0-9._:-]{8,64}")


def new() -> str:
    return uuid.uuid4().hex


def valid(value: Optional[str]) -> Optional[str]:
    """`value` when it looks like a correlation id (no spaces, no personal data), else None."""
    if isinstance(value, str) and _VALID.fullmatch(value):
        return value
    return None


def current() -> Optional[str]:
    return structlog.contextvars.get_contextvars().get(KEY)


def bind(value: Optional[str]) -> Optional[str]:
    """Makes `value` (when valid) the current correlation id of this thread or task."""
    value = valid(value)
    if value is None:
        structlog.contextvars.unbind_contextvars(KEY)
    else:
        structlog.contextvars.bind_contextvars(**{KEY: value})
    return value


@contextmanager
def bound(value: Optional[str]) -> Iterator[Optional[str]]:
    """The correlation id is `value` inside the block and what it was before, after."""
    tokens = structlog.contextvars.bind_contextvars(**{KEY: valid(value)})
    try:
        yield valid(value)
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
