"""Liveness and readiness."""
from apifairy import response
from flask import Blueprint
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal.api.context import get_db
from portal.api.schemas import HealthSchema

bp = Blueprint("health", __name__)


@bp.get("/health")
@response(HealthSchema)
def health():
    """Report whether the portal and its database answer"""
    try:
        get_db().execute(text("SELECT 1"))
        return {"status": "ok", "database": "ok"}
    except SQLAlchemyError:
        return {"status": "degraded", "database": "unavailable"}, 503
