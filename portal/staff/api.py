"""The staff JSON API (bearer staff tokens): who am I."""
from apifairy import other_responses, response
from flask import Blueprint
from marshmallow import fields

from portal.api.schemas import ErrorSchema
from portal.extensions import ma
from portal.models import StaffRole
from portal.staff.auth import current_staff, staff_token_required

bp = Blueprint("staff_api", __name__, url_prefix="/api/v1/staff")


class StaffMeSchema(ma.Schema):
    id = fields.Integer()
    email = fields.String()
    name = fields.String()
    role = fields.Enum(StaffRole, by_value=True)


@bp.get("/me")
@staff_token_required()
@response(StaffMeSchema)
@other_responses({401: (ErrorSchema, "No valid staff API token")})
def me():
    """The staff member the bearer token belongs to, and their role"""
    return current_staff()
