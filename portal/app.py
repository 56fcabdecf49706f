"""The portal's Flask app factory."""
from __future__ import annotations

from typing import Optional

from apifairy import APIFairy
from flask import Flask, g
from flask_marshmallow import Marshmallow

from portal.clock import Clock
from portal.config import Settings
from portal.db import make_engine, make_session_factory
from portal.kv import make_store
from portal.notifications import LetterNotifier

apifairy = APIFairy()
ma = Marshmallow()


class Portal:
    """What every request needs: settings, the database and the clock."""

    def __init__(self, settings: Settings, clock: Clock):
        self.settings = settings
        self.clock = clock
        self.engine = make_engine(settings.database_url)
        self.sessions = make_session_factory(self.engine)
        self.notifier = LetterNotifier()
        self.store = make_store(settings.redis_url)
        self.notifier.subscribe(self.notify_by_sms)

    def notify_by_sms(self, letter) -> None:
        """Plans the SMS notice for a dispatched letter and sends it when it is due now."""
        from portal.sms import notices

        with self.sessions() as db:
            notices.schedule(db, self.settings, letter, now=self.clock.now())
            notices.send_due(db, self.settings, now=self.clock.now())


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
    app.extensions["portal"] = Portal(settings, clock or Clock())

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

    @app.teardown_appcontext
    def close_db(_exc: Optional[BaseException]) -> None:
        db = g.pop("db", None)
        if db is not None:
            db.rollback()
            db.close()

    return app
