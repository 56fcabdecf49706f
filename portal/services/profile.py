"""The citizen's profile: who they are, what awaits them after login, their language."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Dict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import (Citizen, Invoice, InvoiceStatus, KindergartenOffer, Language,
                           OfferStatus)
from portal.services.audit import Actor, record
from portal.services.letters import count_unread


def summary(db: Session, citizen_id: int, *, now: datetime) -> Dict[str, Any]:
    citizen = db.get(Citizen, citizen_id)
    open_offers = db.execute(select(func.count()).select_from(KindergartenOffer).where(
        KindergartenOffer.citizen_id == citizen_id,
        KindergartenOffer.status == OfferStatus.OFFERED,
        KindergartenOffer.deadline >= now)).scalar_one()
    unpaid = db.execute(select(func.count()).select_from(Invoice).where(
        Invoice.citizen_id == citizen_id, Invoice.status == InvoiceStatus.UNPAID)).scalar_one()
    return {"first_name": citizen.first_name, "language": citizen.language.value,
            "unread_letters": count_unread(db, citizen_id), "open_offers": open_offers,
            "unpaid_invoices": unpaid}


def set_language(db: Session, citizen_id: int, language: str, *, actor: Actor,
                 now: datetime) -> Citizen:
    """Keeps the language the citizen chose as their preference (nb, nn or en)."""
    citizen = db.get(Citizen, citizen_id)
    before = citizen.language.value
    citizen.language = Language(language)
    record(db, actor, "profile.language", at=now, citizen_id=citizen_id,
           detail={"from": before, "to": language})
    return citizen
