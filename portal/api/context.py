"""Per-request access to the portal's settings, clock and database session."""
from __future__ import annotations

from datetime import datetime

from flask import current_app, g
from sqlalchemy.orm import Session

from portal.config import Settings


def portal():
    return current_app.extensions["portal"]


def settings() -> Settings:
    return portal().settings


def now() -> datetime:
    return portal().clock.now()


def get_db() -> Session:
    """The request's database session; rolled back and closed at teardown."""
    if "db" not in g:
        g.db = portal().sessions()
    return g.db
