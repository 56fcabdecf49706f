"""The SMS worker: drains the outbox through Twilio until told to stop."""
from __future__ import annotations

import logging
import threading
from typing import Optional

from sqlalchemy.exc import OperationalError

from portal.services import notices
from portal.sms.sender import (DEFAULT_BATCH, DEFAULT_POLICY, DrainResult, Send, SendPolicy,
                                   drain)

log = logging.getLogger(__name__)


def send_due_notices(context) -> int:
    """Letter notices whose time has come (held back by quiet hours or the hourly limit)."""
    with context.sessions() as db:
        return notices.send_due(db, context.settings, now=context.clock.now())


def purge_if_due(context, daily) -> None:
    """The retention purge, once a day; a failure is logged and tried again the next day."""
    try:
        purged = daily.maybe_run(context)
    except Exception:
        log.exception("The retention purge failed; `assistant purge` runs it by hand")
        return
    if purged is not None:
        log.info("Retention purge: %s", purged.summary())


def run(context, stop: threading.Event, *, send: Optional[Send] = None,
        policy: SendPolicy = DEFAULT_POLICY, interval: float = 0.25,
        limit: int = DEFAULT_BATCH, once: bool = False, daily=None) -> DrainResult:
    """Every `interval` seconds until `stop` is set (`once`: until nothing is due): sends due
    letter notices into the outbox, and drains the outbox through Twilio when configured;
    with `daily` (a retention.DailyPurge) also runs the retention purge once a day."""
    if send is None and context.settings.twilio_configured:
        from portal.sms.twilio_client import TwilioSender

        send = TwilioSender(context.settings, timeout=policy.request_timeout)
    total = DrainResult()
    while not stop.is_set():
        if daily is not None:
            purge_if_due(context, daily)
        try:
            send_due_notices(context)
            result = (drain(context, send=send, policy=policy, limit=limit)
                      if send is not None else DrainResult())
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
