"""The SMS worker: drains the outbox through Twilio until told to stop."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Optional

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from portal.clock import Clock
from portal.config import Settings
from portal.db import make_engine, make_session_factory
from portal.sms.dispatcher import (DEFAULT_BATCH, DEFAULT_POLICY, DrainResult, Send, SendPolicy,
                                   drain)

log = logging.getLogger(__name__)


@dataclass
class SmsContext:
    """What draining the outbox needs: the portal's `Portal` without the web app."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker
    clock: Clock

    @classmethod
    def open(cls, settings: Settings, clock: Optional[Clock] = None) -> "SmsContext":
        engine = make_engine(settings.database_url)
        return cls(settings, engine, make_session_factory(engine), clock or Clock())

    def close(self) -> None:
        self.engine.dispose()


def run(context, stop: threading.Event, *, send: Optional[Send] = None,
        policy: SendPolicy = DEFAULT_POLICY, interval: float = 0.25,
        limit: int = DEFAULT_BATCH, once: bool = False) -> DrainResult:
    """Drains the outbox every `interval` seconds until `stop` is set; `once`: until empty."""
    if send is None:
        from portal.sms.twilio_client import TwilioSender

        send = TwilioSender(context.settings, timeout=policy.request_timeout)
    total = DrainResult()
    while not stop.is_set():
        try:
            result = drain(context, send=send, policy=policy, limit=limit)
        except OperationalError:
            if once:
                raise
            log.exception("The outbox database is unavailable; trying again shortly")
            stop.wait(max(interval, 2.0))
            continue
        total += result
        if result.claimed:
            log.info("Outbox pass: %s", result.summary())
        if result.claimed < limit:
            if once:
                break
            stop.wait(interval)
    return total
