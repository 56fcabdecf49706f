"""`python -m channels.rasa_main` with one change, for bench/bot_bench.py --what-if only.

The project's redacting tracker store (channels/tracker_store.py, RedactingMixin.save) rebuilds a
redacted copy of the *whole* tracker on every save: every event serialised, redacted,
deserialised and replayed (DialogueStateTracker.from_dict), after which SQLTrackerStore.save
writes only the events not stored yet. That is O(conversation length) per turn, ~10-12 ms at
the ~100 events of the bench's 12-turn journey. This wrapper redacts just the new events, with
the same redact_event, and writes the same rows. The project code is not changed.

(Earlier this wrapper held the compiled action-response validator; the project now installs
that itself, channels/rasa_fixes.py, so FULL has it and so does this.)
"""
from __future__ import annotations

import json


def install_incremental_redaction() -> None:
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.nlu.constants import INTENT_NAME_KEY

    from channels import tracker_store as project_store
    from channels.redaction import redact_event

    original = project_store.RedactingSQLTrackerStore.save

    async def save(self: SQLTrackerStore, tracker) -> None:
        if self.event_broker is not None:     # keep the project's path when events are streamed
            await original(self, tracker)
            return
        with self.session_scope() as session:
            for event in self._additional_events(session, tracker):
                data = redact_event(event.as_dict())
                session.add(self.SQLEvent(
                    sender_id=tracker.sender_id, type_name=event.type_name,
                    timestamp=data.get("timestamp"),
                    intent_name=data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
                    action_name=data.get("name"), data=json.dumps(data)))
            session.commit()

    project_store.RedactingSQLTrackerStore.save = save  # type: ignore[assignment]


def main() -> None:
    from channels.rasa_main import main as project_main

    install_incremental_redaction()
    project_main()


if __name__ == "__main__":
    main()
