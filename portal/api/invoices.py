"""Invoices."""
from apifairy import arguments, other_responses, response
from flask import Blueprint

from portal.api.auth import citizen_session_required, current_actor, current_citizen_id
from portal.api.context import get_db, now, settings
from portal.api.schemas import ErrorSchema, InvoiceListSchema, InvoiceQuerySchema
from portal.models import InvoiceStatus
from portal.money import format_nok
from portal.services import invoices

bp = Blueprint("invoices", __name__, url_prefix="/api/v1/me/invoices")


@bp.get("")
@citizen_session_required
@arguments(InvoiceQuerySchema)
@response(InvoiceListSchema)
@other_responses({401: (ErrorSchema, "No valid session")})
def list_invoices(query):
    """List invoices, unpaid first; filter with ?status=unpaid or paid"""
    db = get_db()
    moment = now()
    rows = invoices.list_invoices(db, current_citizen_id(), actor=current_actor(), now=moment,
                                  status=query["status"], tz=settings().timezone)
    db.commit()
    unpaid = sum(i["amount_ore"] for i in rows if i["status"] == InvoiceStatus.UNPAID)
    return {"invoices": rows, "unpaid_total_ore": unpaid, "unpaid_total_text": format_nok(unpaid)}
