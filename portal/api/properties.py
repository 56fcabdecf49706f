"""Properties the citizen owns."""
from apifairy import other_responses, response
from flask import Blueprint

from portal.api.auth import citizen_session_required, current_actor, current_citizen_id
from portal.api.context import get_db, now
from portal.api.schemas import ErrorSchema, PropertyListSchema
from portal.services import properties

bp = Blueprint("properties", __name__, url_prefix="/api/v1/me/properties")


@bp.get("")
@citizen_session_required
@response(PropertyListSchema)
@other_responses({401: (ErrorSchema, "No valid session")})
def list_properties():
    """List the properties the citizen owns"""
    db = get_db()
    rows = properties.list_properties(db, current_citizen_id(), actor=current_actor(), now=now())
    db.commit()
    return {"properties": rows}
