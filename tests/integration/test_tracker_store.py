"""The redacting tracker store on SQLite and PostgreSQL: each save writes only the new events,
each masked, and a retrieved tracker has every event and slot of the conversation."""
from __future__ import annotations

import asyncio

from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import create_engine, text

from portal.privacy import QUOTES_CITIZEN
from tests.conftest import KARI
from tests.retention_helpers import domain, tracker_store, tracker_url  # noqa: F401


def _rows(url: str):
    engine = create_engine(url, future=True)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT type_name, intent_name, action_name, data "
                                     "FROM events WHERE sender_id = 'sms-store' ORDER BY id")
                                ).all()
    finally:
        engine.dispose()


def test_each_save_writes_the_new_events_masked_and_retrieve_gives_them_all(tracker_url):
    store = tracker_store(tracker_url)

    async def conversation():
        tracker = DialogueStateTracker("sms-store", domain().slots)
        tracker.update(ActionExecuted("action_listen"))
        tracker.update(UserUttered(f"mitt fnr er {KARI}", {"name": "give_fnr",
                                                           "confidence": 0.9}))
        tracker.update(SlotSet("language", "nn"))
        tracker.update(BotUttered("Skriv koden."))
        tracker.update(ActionExecuted("action_listen"))
        await store.save(tracker)
        first = len(_rows(tracker_url))
        tracker = await store.retrieve("sms-store")
        tracker.update(UserUttered("saken gjelder 12345678", {"name": "write_to_municipality",
                                                              "confidence": 0.8}))
        tracker.update(BotUttered("Du skriver: «saken gjelder 12345678»",
                                  metadata={QUOTES_CITIZEN: True}))
        tracker.update(ActionExecuted("action_listen"))
        await store.save(tracker)
        await store.save(tracker)  # nothing new: nothing written
        return first, await store.retrieve("sms-store")

    first, tracker = asyncio.run(conversation())
    rows = _rows(tracker_url)
    assert first == 5 and len(rows) == 8
    assert [r.type_name for r in rows] == ["action", "user", "slot", "bot", "action", "user",
                                           "bot", "action"]
    assert [r.intent_name for r in rows if r.type_name == "user"] == [
        "give_fnr", "write_to_municipality"]
    stored = " ".join(r.data for r in rows)
    assert KARI not in stored and "12345678" not in stored
    assert len(tracker.events) == 8
    assert tracker.get_slot("language") == "nn"
    said = [e.text for e in tracker.events if isinstance(e, UserUttered)]
    assert KARI not in said[0] and "12345678" not in said[1]
