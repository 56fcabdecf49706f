"""Simultaneous answers to one offer through a real threaded HTTP server on PostgreSQL."""
from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import datetime

import pytest
import requests
from sqlalchemy import select

from portal.app import create_app
from portal.clock import FrozenClock
from portal.config import Settings
from portal.conversation_ids import PREFIX_OF
from portal.models import AuditEvent, Channel, Citizen, KindergartenOffer, OfferStatus
from portal.services.demo import load_demo
from portal.services.sessions import start_session
from tests.conftest import DISPATCH_TOKEN, KARI, SERVICE_TOKEN, T0, _truncate_all, serve

REQUESTS = 20


@pytest.fixture
def pg_app(pg_schema_url, tmp_path):
    """The portal on the real PostgreSQL (never SQLite), with the demo data loaded."""
    _truncate_all(pg_schema_url)
    settings = Settings(environment="test", database_url=pg_schema_url, var_dir=tmp_path,
                        service_token=SERVICE_TOKEN, dispatch_token=DISPATCH_TOKEN,
                        identity_key="test-identity-key", allow_synthetic_fnr=True)
    app = create_app(settings, FrozenClock(T0))
    portal = app.extensions["portal"]
    assert portal.engine.dialect.name == "postgresql"
    with portal.sessions() as s:
        load_demo(s, settings, now=T0)
        s.commit()
    yield app
    portal.engine.dispose()


@pytest.fixture
def server_url(pg_app):
    with serve(pg_app) as url:
        yield url


def _sessions(app, count: int) -> list:
    """One login per request, each in its own conversation, as separate chats would have."""
    portal = app.extensions["portal"]
    headers = []
    with portal.sessions() as s:
        kari = s.execute(select(Citizen).where(Citizen.fnr == KARI)).scalar_one()
        for i in range(count):
            channel = (Channel.SMS, Channel.WEBCHAT, Channel.REST)[i % 3]
            conversation = f"{PREFIX_OF[channel.value]}{uuid.uuid4().hex[:8]}"
            start_session(s, kari, channel=channel, conversation_id=conversation, now=T0,
                          idle_minutes=30)
            headers.append({"Authorization": f"Bearer {SERVICE_TOKEN}",
                            "X-Channel": channel.value, "X-Conversation-Id": conversation})
        s.commit()
    return headers


def test_simultaneous_answers_record_exactly_one(pg_app, server_url):
    portal = pg_app.extensions["portal"]
    with portal.sessions() as s:
        offer_id = s.execute(select(KindergartenOffer.id).join(
            Citizen, Citizen.id == KindergartenOffer.citizen_id).where(
            Citizen.fnr == KARI)).scalar_one()
    headers = _sessions(pg_app, REQUESTS)
    answers = ["accept" if i % 2 == 0 else "decline" for i in range(REQUESTS)]
    barrier = threading.Barrier(REQUESTS)
    results: list = [None] * REQUESTS

    def worker(i: int) -> None:
        with requests.Session() as http:
            barrier.wait(timeout=30)
            try:
                response = http.post(f"{server_url}/api/v1/me/offers/{offer_id}/answer",
                                     json={"answer": answers[i]}, headers=headers[i],
                                     timeout=60)
                results[i] = (response.status_code, response.json())
            except Exception as exc:  # reported by the assertions below
                results[i] = ("error", repr(exc))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)

    assert all(r is not None and r[0] in (200, 409) for r in results), results
    winners = [i for i, (status, body) in enumerate(results)
               if status == 200 and body["already_answered"] is False]
    assert len(winners) == 1, results
    winner = winners[0]
    won_with = answers[winner]
    winning_offer = results[winner][1]["offer"]
    expected_status = "ACCEPTED" if won_with == "accept" else "DECLINED"
    assert winning_offer["status"] == expected_status

    for i, (status, body) in enumerate(results):
        if i == winner:
            continue
        if answers[i] == won_with:
            assert status == 200, body
            assert body["already_answered"] is True
            assert body["offer"]["status"] == expected_status
            assert body["offer"]["answered_at"] == winning_offer["answered_at"]
            assert body["offer"]["answered_via"] == winning_offer["answered_via"]
        else:
            assert status == 409, body
            assert body["error"]["code"] == "offer_already_answered"
            assert body["error"]["details"]["status"] == expected_status

    outcomes = Counter((status, answers[i]) for i, (status, _) in enumerate(results))
    assert outcomes[(200, won_with)] == REQUESTS // 2
    assert sum(n for (status, _), n in outcomes.items() if status == 409) == REQUESTS // 2

    with portal.sessions() as s:
        offer = s.get(KindergartenOffer, offer_id)
        assert offer.status == OfferStatus(expected_status)
        assert offer.answered_at == datetime.fromisoformat(winning_offer["answered_at"])
        assert offer.answered_via.value == winning_offer["answered_via"]
        events = s.execute(select(AuditEvent).where(
            AuditEvent.action.in_(["offer.accept", "offer.decline"]))).scalars().all()
    assert [e.action for e in events] == [f"offer.{won_with}"]
    assert events[0].object_id == str(offer_id)
    assert events[0].channel == winning_offer["answered_via"]
