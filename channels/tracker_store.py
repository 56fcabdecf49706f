"""Tracker stores that mask personal data before any event is persisted."""
from __future__ import annotations

from rasa.core.tracker_store import InMemoryTrackerStore, RedisTrackerStore, SQLTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

from channels.redaction import redact_event


def redacted(tracker: DialogueStateTracker, domain) -> DialogueStateTracker:
    """A copy of the tracker rebuilt from redacted events."""
    events = [redact_event(e) for e in tracker.current_state(EventVerbosity.ALL)["events"]]
    slots = domain.slots if domain is not None else list(tracker.slots.values())
    return DialogueStateTracker.from_dict(tracker.sender_id, events, slots,
                                          tracker._max_event_history)


class RedactingMixin:
    async def save(self, tracker: DialogueStateTracker) -> None:
        await super().save(redacted(tracker, self.domain))  # type: ignore[misc]


class RedactingSQLTrackerStore(RedactingMixin, SQLTrackerStore):
    """SQLite (embedded default) or PostgreSQL (production)."""


class RedactingRedisTrackerStore(RedactingMixin, RedisTrackerStore):
    pass


class RedactingInMemoryTrackerStore(RedactingMixin, InMemoryTrackerStore):
    pass
