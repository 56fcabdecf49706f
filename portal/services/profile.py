"""What the assistant says right after login: who you are and what awaits you."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Dict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import Citizen, Invoice, InvoiceStatus, KindergartenOffer, OfferStatus
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
