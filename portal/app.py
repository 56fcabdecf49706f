"""The portal's Flask app factory."""
from __future__ import annotations

import secrets
from typing import Optional

from flask import Flask, abort, g, request

from portal.bootstrap import Portal
from portal.clock import Clock
from portal.config import WEB_SECRETS, Settings
from portal.extensions import apifairy, ma


def create_app(settings: Optional[Settings] = None, clock: Optional[Clock] = None) -> Flask:
    settings = settings or Settings.from_env(required=WEB_SECRETS)
    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        JSON_SORT_KEYS=False,
        APIFAIRY_TITLE="Din side – citizen portal API",
        APIFAIRY_VERSION="1.0",
        APIFAIRY_APISPEC_PATH="/openapi.json",
        APIFAIRY_UI_PATH="/docs",
    )
    app.json.ensure_ascii = False
    app.config.update(  # the staff pages' session cookie
        SECRET_KEY=settings.staff_session_secret or secrets.token_urlsafe(32),
        SESSION_COOKIE_NAME="staff_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.staff_secure_cookies,
    )
    app.extensions["portal"] = Portal(settings, clock)

    ma.init_app(app)
    apifairy.init_app(app)

    from portal.api import dev, dispatch, erasure, errors, handoffs, health, invoices
    from portal.api import json_body, letters, login, offers, personal_code, preferences
    from portal.api import properties, reports

    from portal.api import metrics as metrics_api

    errors.register(app)
    json_body.register(app)
    metrics_api.register(app)
    for module in (health, login, personal_code, preferences, letters, offers, invoices,
                   properties, handoffs, dispatch, reports, erasure):
        app.register_blueprint(module.bp)
    from portal.api import conversations
    from portal.webhooks import twilio

    app.register_blueprint(twilio.bp)
    app.register_blueprint(conversations.bp)
    from portal.api import cases

    app.register_blueprint(cases.bp)
    app.register_blueprint(cases.staff_bp)

    from portal.idporten import views as idporten

    app.register_blueprint(idporten.bp)
    if settings.dev_outbox:
        app.register_blueprint(dev.bp)

    @app.before_request
    def refuse_large_bodies() -> None:
        """A declared body over the limit is refused (413) before anything reads it."""
        if (request.content_length or 0) > settings.max_body_bytes:
            abort(413)

    from portal.staff import api as staff_api, auth as staff_auth, views as staff_views
    from portal.staff import case_pages, conversations_api, workspace_views

    staff_auth.init_app(app)
    app.register_blueprint(staff_views.bp)
    app.register_blueprint(staff_api.bp)
    from portal.admin import api as admin_api, model_pages, views as admin_views  # noqa: F401

    app.register_blueprint(admin_views.bp)  # with the routes of model_pages
    app.register_blueprint(admin_api.bp)

    app.register_blueprint(workspace_views.bp)
    app.register_blueprint(case_pages.bp)
    app.register_blueprint(conversations_api.bp)

    @app.teardown_appcontext
    def close_db(_exc: Optional[BaseException]) -> None:
        db = g.pop("db", None)
        if db is not None:
            db.rollback()
            db.close()

    return app
