"""What an operator needs to know from the database: queues, outbox, codes, handoffs, model.

Read by the portal's /metrics (portal/metrics.py) and by `assistant status`.
"""
from __future__ import annotations

from collections import Counter as Tally
from dataclasses import dataclass, field
from datetime import datetime
from typing import Dict, Tuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import HandoffRequest, InboundSms, OutboundSms

BACKLOG = ("pending", "sending")
SENT = ("queued", "sent", "delivered")
FAILED = ("failed", "undelivered", "rejected", "expired")


@dataclass
class Figures:
    inbound_waiting: int = 0
    inbound_oldest_age: float = 0.0
    outbox: Dict[Tuple[str, str], int] = field(default_factory=dict)
    outbox_backlog: int = 0
    outbox_oldest_age: float = 0.0
    error_codes: Dict[str, int] = field(default_factory=dict)
    login_codes: Dict[str, int] = field(default_factory=dict)
    handoffs_waiting: int = 0
    handoff_oldest_wait: float = 0.0
    model_version: str = "fingerprint"
    model_path: str = ""

    @property
    def sent(self) -> int:
        return sum(n for (status, _), n in self.outbox.items() if status in SENT)

    @property
    def failed(self) -> int:
        return sum(n for (status, _), n in self.outbox.items() if status in FAILED)


def _age(now: datetime, then) -> float:
    if then is None:
        return 0.0
    if then.tzinfo is None and now.tzinfo is not None:
        now = now.replace(tzinfo=None)
    return max(0.0, (now - then).total_seconds())


def figures(db: Session, now: datetime) -> Figures:
    from portal.training.models import active_version

    f = Figures()
    f.inbound_waiting, oldest = db.execute(
        select(func.count(InboundSms.id), func.min(InboundSms.received_at))
        .where(InboundSms.status == "received")).one()
    f.inbound_oldest_age = _age(now, oldest)
    for status, purpose, count in db.execute(
            select(OutboundSms.status, OutboundSms.purpose, func.count(OutboundSms.id))
            .group_by(OutboundSms.status, OutboundSms.purpose)):
        f.outbox[(status, purpose)] = count
    f.outbox_backlog, oldest = db.execute(
        select(func.count(OutboundSms.id), func.min(OutboundSms.created_at))
        .where(OutboundSms.status.in_(BACKLOG))).one()
    f.outbox_oldest_age = _age(now, oldest)
    f.error_codes = dict(db.execute(
        select(OutboundSms.error_code, func.count(OutboundSms.id))
        .where(OutboundSms.error_code.is_not(None)).group_by(OutboundSms.error_code)).all())
    codes = Tally()
    for (status, purpose), count in f.outbox.items():
        if purpose == "otp":
            codes["sent" if status in SENT else "failed" if status in FAILED
                  else "waiting" if status in BACKLOG else status] += count
    f.login_codes = dict(codes)
    f.handoffs_waiting, oldest = db.execute(
        select(func.count(HandoffRequest.id), func.min(HandoffRequest.requested_at))
        .where(HandoffRequest.status == "open")).one()
    f.handoff_oldest_wait = _age(now, oldest)
    version = active_version(db)
    if version is not None:
        f.model_version, f.model_path = str(version.id), version.path
    return f
