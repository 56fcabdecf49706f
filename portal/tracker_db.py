"""Rasa's tracker store as the portal reaches it: the `events` table, SQLite or PostgreSQL.

The portal erases conversations here (portal/services/retention.py); Rasa writes it through
channels/tracker_store.py. Rows are Rasa's: sender_id, type_name, timestamp (epoch), data.
"""
from __future__ import annotations

from datetime import datetime
from typing import Collection, Iterator, Tuple

from sqlalchemy import column, create_engine, delete, func, inspect, select, table
from sqlalchemy.engine import Engine

EVENTS = table("events", column("id"), column("sender_id"), column("type_name"),
               column("timestamp"), column("data"))
SESSION_STARTED = "session_started"


class TrackerDb:
    """One engine on the tracker database; every method is its own transaction."""

    def __init__(self, url: str):
        self.engine: Engine = create_engine(url, future=True, hide_parameters=True)

    def close(self) -> None:
        self.engine.dispose()

    def _ready(self, conn) -> bool:
        return inspect(conn).has_table("events")  # Rasa creates it when it first starts

    def purge_before(self, cutoff: datetime, keep: Collection[str]) -> int:
        """Deletes events older than `cutoff` that no conversation can load again: all of a
        conversation idle since before it, and earlier sessions of the others. Conversations
        in `keep` (held) are left alone. Returns the events deleted."""
        at = cutoff.timestamp()
        keep = list(keep)
        with self.engine.begin() as conn:
            if not self._ready(conn):
                return 0
            stale = (select(EVENTS.c.sender_id).group_by(EVENTS.c.sender_id)
                     .having(func.max(EVENTS.c.timestamp) < at))
            deleted = conn.execute(delete(EVENTS).where(
                EVENTS.c.sender_id.in_(stale), EVENTS.c.sender_id.not_in(keep))).rowcount
            # Rasa loads a conversation's events from its latest session start on only.
            sessions = EVENTS.alias("sessions")
            latest_start = (select(func.max(sessions.c.timestamp))
                            .where(sessions.c.sender_id == EVENTS.c.sender_id,
                                   sessions.c.type_name == SESSION_STARTED)
                            .scalar_subquery())
            deleted += conn.execute(delete(EVENTS).where(
                EVENTS.c.timestamp < at, EVENTS.c.timestamp < latest_start,
                EVENTS.c.sender_id.not_in(keep))).rowcount
            return deleted

    def count(self, sender_id: str) -> int:
        with self.engine.connect() as conn:
            if not self._ready(conn):
                return 0
            return conn.execute(select(func.count()).select_from(EVENTS)
                                .where(EVENTS.c.sender_id == sender_id)).scalar_one()

    def rows(self) -> Iterator[Tuple[str, str]]:
        """Every stored event as (sender_id, data), for checks."""
        with self.engine.connect() as conn:
            if not self._ready(conn):
                return iter(())
            return iter(conn.execute(select(EVENTS.c.sender_id, EVENTS.c.data)).all())
