"""What the SMS channel does with the database: inbound log, opt-out, choices, replies."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Dict, List, Optional

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.config import Settings
from portal.models import InboundSms, OutboundSms, SmsIdentity
from portal.privacy import redact_citizen_text
from portal.sms import gsm as sms
from portal.sms.sender_keys import ensure_identity
from portal.sms.outbox import enqueue

log = logging.getLogger(__name__)

MAX_SEGMENTS = 3


def unprocessed(db: Session) -> List[InboundSms]:
    """Inbound SMS accepted but not yet handled (the process stopped in between)."""
    return list(db.execute(select(InboundSms).where(InboundSms.status == "received")
                           .order_by(InboundSms.id)).scalars())


def finish(db: Session, inbound_id: int, now: datetime) -> None:
    """Marks an inbound SMS handled and masks its text."""
    row = db.get(InboundSms, inbound_id)
    row.status, row.processed_at, row.body = "processed", now, redact_citizen_text(row.body)
    db.commit()


def set_opted_out(db: Session, key: str, opted_out: bool, now: datetime, *,
                  commit: bool = True) -> None:
    db.execute(update(SmsIdentity).where(SmsIdentity.sender_key == key)
               .values(opted_out_at=now if opted_out else None)
               .execution_options(synchronize_session=False))
    if commit:
        db.commit()


def take_choice(db: Session, key: str, reply: str, *, commit: bool = True) -> Optional[str]:
    """The payload of a numbered choice offered in the last reply ("1" → "/affirm")."""
    identity = db.get(SmsIdentity, key)
    if identity is None or not identity.choices:
        return None
    payload = sms.choice_payload(reply, [{"payload": p} for p in identity.choices])
    if payload is not None:
        identity.choices = None
        if commit:
            db.commit()
    return payload


def take_more(db: Session, key: str, *, commit: bool = True) -> Optional[str]:
    """The rest of a reply that was cut ("Svar MER for resten")."""
    identity = db.get(SmsIdentity, key)
    rest = identity.more_text if identity else None
    if rest:
        identity.more_text = None
        if commit:
            db.commit()
    return rest


def queue_reply(db: Session, settings: Settings, key: str, text: str, *, now: datetime,
                buttons: Optional[List[Dict[str, Any]]] = None, language: str = "nb",
                purpose: str = "reply", ignore_opt_out: bool = False,
                commit: bool = True) -> Optional[OutboundSms]:
    """Formats one SMS (GSM-7, numbered choices, at most 3 segments) and puts it in the outbox.

    Nothing is queued for an opted-out number, except the confirmation of the opt-out itself.
    """
    identity = db.get(SmsIdentity, key)
    if identity is None:
        log.warning("no phone number behind SMS conversation %s", key[:12])
        return None
    if identity.opted_out_at is not None and not ignore_opt_out:
        return None
    text = sms.sanitize(text)
    if buttons:
        text = sms.render_buttons(text, buttons, language)
        identity.choices = [button.get("payload") or button.get("title") for button in buttons]
    else:
        identity.choices = None
    head, rest = sms.fit(text, MAX_SEGMENTS, language)
    identity.more_text = rest
    row = enqueue(db, to=identity.phone, body=head, purpose=purpose, now=now,
                  deliver=settings.twilio_configured, sender_key=key,
                  segments=sms.count_segments(head))
    if commit:
        db.commit()
    return row
