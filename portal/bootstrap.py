"""The one composition root: settings, engine, sessions, clock, store and notifier.

Every process builds its `Portal` here: the web app (through the app factory), the SMS
worker, the turn workers and the command line.
"""
from __future__ import annotations

from typing import Optional

from portal import logredact
from portal.clock import Clock
from portal.config import Settings
from portal.db import make_engine, make_session_factory
from portal.kv import make_store
from portal.notifications import LetterNotifier


class Portal:
    """What every request and every worker needs: settings, the database and the clock."""

    def __init__(self, settings: Settings, clock: Optional[Clock] = None):
        logredact.install()  # every process that builds a Portal logs nothing in clear
        self.settings = settings
        self.clock = clock or Clock()
        self.engine = make_engine(settings.database_url)
        self.sessions = make_session_factory(self.engine)
        self.store = make_store(settings.redis_url)
        self.notifier = LetterNotifier()
        self.notifier.subscribe(self.notify_by_sms)

    @classmethod
    def from_env(cls, clock: Optional[Clock] = None) -> "Portal":
        return cls(Settings.from_env(), clock)

    def notify_by_sms(self, letter) -> None:
        """Plans the SMS notice for a dispatched letter and sends it when it is due now."""
        from portal.services import notices

        with self.sessions() as db:
            notices.schedule(db, self.settings, letter, now=self.clock.now())
            notices.send_due(db, self.settings, now=self.clock.now())

    def close(self) -> None:
        self.engine.dispose()
