"""Caseworkers racing for the same conversation on PostgreSQL, over real HTTP."""
from __future__ import annotations

import threading

import pytest
import requests
from sqlalchemy import select

from portal.models import AuditEvent, HandoffRequest, TranscriptMessage
from tests.conftest import serve
from tests.workspace_helpers import conversation_id, staff_token, waiting_webchat, ws_app  # noqa: F401

RACERS = 6


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_exactly_one_of_racing_caseworkers_takes_the_conversation(ws_app, clock):
    client = ws_app.test_client()
    headers = [staff_token(ws_app, clock, f"cw{i}@bergen.kommune.no", name=f"Kari{i} Berg")[1]
               for i in range(RACERS)]
    cid = conversation_id(ws_app, waiting_webchat(client))
    barrier = threading.Barrier(RACERS)
    results = [None] * RACERS

    with serve(ws_app) as url:
        def claim(i):
            barrier.wait()
            response = requests.post(f"{url}/api/v1/staff/conversations/{cid}/claim",
                                     headers=headers[i], json={}, timeout=30)
            results[i] = (response.status_code, response.json())

        threads = [threading.Thread(target=claim, args=(i,)) for i in range(RACERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    winners = [i for i, (status, _) in enumerate(results) if status == 200]
    assert len(winners) == 1, results
    holder = f"Kari{winners[0]}"
    for status, body in (r for i, r in enumerate(results) if i != winners[0]):
        assert status == 409 and body["error"]["details"]["holder"] == holder
    with ws_app.extensions["portal"].sessions() as db:
        joined = db.execute(select(TranscriptMessage.text).where(
            TranscriptMessage.author == "system")).scalars().all()
        assert joined == [f"Du snakker nå med {holder} i Bergen kommune."]
        assert len(db.execute(select(AuditEvent.id).where(
            AuditEvent.action == "conversation.take_over")).all()) == 1
        assert db.execute(select(HandoffRequest.status, HandoffRequest.taken_by)).all() == [
            ("taken", holder)]
