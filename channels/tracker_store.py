"""Tracker stores that mask personal data before any event is persisted.

Rasa's `SQLTrackerStore.session_scope` turns every `ValueError` raised while a session is open
into `print_error_and_exit`, meant for a missing PostgreSQL schema at start-up. A lone UTF-16
surrogate in a sender id is a `UnicodeEncodeError` (a `ValueError`) in the database driver, so
one hostile request ended the whole Rasa process. Here the schema is checked once, when the
store is created, and errors while serving a request stay errors of that request.
"""
from __future__ import annotations

import contextlib
import json
from typing import Generator

from rasa.core.tracker_store import (InMemoryTrackerStore, RedisTrackerStore, SQLTrackerStore,
                                     ensure_schema_exists)
from rasa.shared.core.events import SlotSet
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from channels.redaction import redact_event


def redacted(tracker: DialogueStateTracker, domain) -> DialogueStateTracker:
    """A copy of the tracker rebuilt from redacted events."""
    events = [redact_event(e) for e in tracker.current_state(EventVerbosity.ALL)["events"]]
    slots = domain.slots if domain is not None else list(tracker.slots.values())
    return DialogueStateTracker.from_dict(tracker.sender_id, events, slots,
                                          tracker._max_event_history)


# Set by action_affirm once the portal erased the conversation (actions/deletion.py).
ERASED_SLOT = "conversation_erased"


def erased(events) -> bool:
    """Whether these events include the portal's erasure of the conversation."""
    return any(isinstance(e, SlotSet) and e.key == ERASED_SLOT and e.value for e in events)


class RedactingMixin:
    async def save(self, tracker: DialogueStateTracker) -> None:
        await super().save(redacted(tracker, self.domain))  # type: ignore[misc]


class RedactingSQLTrackerStore(RedactingMixin, SQLTrackerStore):
    """SQLite (embedded default) or PostgreSQL (production)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        session = self.sessionmaker()
        try:
            ensure_schema_exists(session)  # ValueError at start-up: the schema is missing
        finally:
            session.close()

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Saves the new events, each redacted on its own (Rasa's own save would redact a
        copy of the whole tracker each turn); after an erasure (the citizen deleted the
        conversation in this turn) every stored event of the conversation is deleted
        instead, and the next message starts a new conversation."""
        if self.event_broker is not None:
            await self.stream_events(redacted(tracker, self.domain))
        with self.session_scope() as session:
            stored = self._event_query(session, tracker.sender_id,
                                       fetch_events_from_all_sessions=False).count()
            new = list(tracker.events)[stored:]
            if erased(new):
                session.query(self.SQLEvent).filter(
                    self.SQLEvent.sender_id == tracker.sender_id).delete(
                    synchronize_session=False)
                session.commit()
                return
            for event in new:
                data = redact_event(event.as_dict())
                session.add(self.SQLEvent(
                    sender_id=tracker.sender_id, type_name=event.type_name,
                    timestamp=data.get("timestamp"),
                    intent_name=(data.get("parse_data") or {}).get("intent", {}).get(
                        INTENT_NAME_KEY),
                    action_name=data.get("name"), data=json.dumps(data)))
            session.commit()

    @contextlib.contextmanager
    def session_scope(self) -> Generator:
        """A session for one operation; its errors propagate to the request, never exit."""
        session = self.sessionmaker()
        try:
            yield session
        finally:
            session.close()


class RedactingRedisTrackerStore(RedactingMixin, RedisTrackerStore):
    pass


class RedactingInMemoryTrackerStore(RedactingMixin, InMemoryTrackerStore):
    pass
