"""Invoices for kindergarten, SFO and municipal fees."""
from __future__ import annotations

from datetime import date, datetime
from typing import List, Optional
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from portal.errors import InvalidInput
from portal.models import Invoice, InvoiceStatus
from portal.money import format_nok
from portal.services.audit import Actor, record


def local_today(now: datetime, tz: str) -> date:
    return now.astimezone(ZoneInfo(tz)).date()


def is_overdue(invoice, today: date) -> bool:
    return invoice["status"] == InvoiceStatus.UNPAID and invoice["due_date"] < today


_COLUMNS = (Invoice.id, Invoice.kind, Invoice.period, Invoice.amount_ore, Invoice.due_date,
            Invoice.kid, Invoice.account_number, Invoice.status)


def _of_citizen(status: Optional[InvoiceStatus]):
    query = select(*_COLUMNS).where(Invoice.citizen_id == bindparam("citizen_id"))
    if status is not None:
        query = query.where(Invoice.status == status)
    return query.order_by(Invoice.due_date)


# Built once per filter: the invoice list is on the bot's hot path.
_LISTS = {None: _of_citizen(None), **{s.value: _of_citizen(s) for s in InvoiceStatus}}


def list_invoices(db: Session, citizen_id: int, *, actor: Actor, now: datetime,
                  status: Optional[str] = None, tz: str) -> List[dict]:
    """Unpaid first (earliest due first), then paid (latest first), each with its amount in
    words and whether it is overdue today in the municipality's time zone."""
    if status not in _LISTS:
        raise InvalidInput("status must be 'unpaid' or 'paid'.", code="invalid_status")
    rows = [dict(row) for row in db.connection().execute(
        _LISTS[status], {"citizen_id": citizen_id}).mappings()]
    today = local_today(now, tz)
    for row in rows:
        row["amount_text"] = format_nok(row["amount_ore"])
        row["overdue"] = is_overdue(row, today)
    unpaid = [i for i in rows if i["status"] == InvoiceStatus.UNPAID]
    paid = sorted((i for i in rows if i["status"] == InvoiceStatus.PAID),
                  key=lambda i: i["due_date"], reverse=True)
    record(db, actor, "invoice.list", at=now, citizen_id=citizen_id,
           detail={"count": len(rows), "status": status})
    return unpaid + paid
