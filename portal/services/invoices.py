"""Invoices for kindergarten, SFO and municipal fees."""
from __future__ import annotations

from datetime import date, datetime
from typing import List, Optional
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.errors import InvalidInput
from portal.models import Invoice, InvoiceStatus
from portal.services.audit import Actor, record


def local_today(now: datetime, tz: str) -> date:
    return now.astimezone(ZoneInfo(tz)).date()


def is_overdue(invoice: Invoice, today: date) -> bool:
    return invoice.status == InvoiceStatus.UNPAID and invoice.due_date < today


def list_invoices(db: Session, citizen_id: int, *, actor: Actor, now: datetime,
                  status: Optional[str] = None) -> List[Invoice]:
    """Unpaid first (earliest due first), then paid (latest first)."""
    query = select(Invoice).where(Invoice.citizen_id == citizen_id)
    if status is not None:
        try:
            query = query.where(Invoice.status == InvoiceStatus(status))
        except ValueError:
            raise InvalidInput("status must be 'unpaid' or 'paid'.", code="invalid_status")
    rows = db.execute(query.order_by(Invoice.due_date)).scalars().all()
    unpaid = [i for i in rows if i.status == InvoiceStatus.UNPAID]
    paid = sorted((i for i in rows if i.status == InvoiceStatus.PAID),
                  key=lambda i: i.due_date, reverse=True)
    record(db, actor, "invoice.list", at=now, citizen_id=citizen_id,
           detail={"count": len(rows), "status": status})
    return unpaid + paid
