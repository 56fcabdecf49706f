"""The portal's Flask app factory."""
from __future__ import annotations

from typing import Optional

from flask import Flask, abort, g, request

from portal.bootstrap import Portal
from portal.clock import Clock
from portal.config import Settings
from portal.extensions import apifairy, ma


def create_app(settings: Optional[Settings] = None, clock: Optional[Clock] = None) -> Flask:
    settings = settings or Settings.from_env()
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
    app.extensions["portal"] = Portal(settings, clock)

    ma.init_app(app)
    apifairy.init_app(app)

    from portal.api import dev, dispatch, errors, handoffs, health, invoices, letters, login
    from portal.api import offers, properties, reports

    errors.register(app)
    for module in (health, login, letters, offers, invoices, properties, handoffs, dispatch,
                   reports):
        app.register_blueprint(module.bp)
    if settings.dev_outbox:
        app.register_blueprint(dev.bp)

    @app.before_request
    def refuse_large_bodies() -> None:
        """A declared body over the limit is refused (413) before anything reads it."""
        if (request.content_length or 0) > settings.max_body_bytes:
            abort(413)

    @app.teardown_appcontext
    def close_db(_exc: Optional[BaseException]) -> None:
        db = g.pop("db", None)
        if db is not None:
            db.rollback()
            db.close()

    return app
