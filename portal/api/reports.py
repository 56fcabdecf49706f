"""Reports for the municipality: what digital delivery saves."""
from apifairy import other_responses, response
from flask import Blueprint

from portal.api.auth import service_token_required
from portal.api.context import get_db, settings
from portal.api.schemas import ErrorSchema, SavingsSchema
from portal.services.savings import monthly_savings

bp = Blueprint("reports", __name__, url_prefix="/api/v1/reports")


@bp.get("/savings")
@service_token_required
@response(SavingsSchema)
@other_responses({401: (ErrorSchema, "Missing or wrong service token")})
def savings():
    """Letters read digitally versus printed per month, and the saving"""
    per_letter = settings().saving_per_digital_letter_ore
    months = monthly_savings(get_db(), saving_per_letter_ore=per_letter, tz=settings().timezone)
    return {"saving_per_letter_ore": per_letter, "months": months,
            "total_saving_ore": sum(m.saving_ore for m in months)}
