"""The audit trail: every read or change of citizen data is recorded, and never rewritten."""
from __future__ import annotations

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from portal.models import ActorType, AuditEvent, Channel, KindergartenOffer, Letter
from tests.conftest import KARI


def _events(app) -> list:
    with app.extensions["portal"].sessions() as s:
        return s.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars().all()


def _kari_rows(app, demo):
    with app.extensions["portal"].sessions() as s:
        letter = s.execute(select(Letter.id).where(Letter.citizen_id == demo[KARI])
                           .order_by(Letter.id)).scalars().first()
        offer = s.execute(select(KindergartenOffer.id).where(
            KindergartenOffer.citizen_id == demo[KARI])).scalar_one()
    return letter, offer


def test_citizen_reads_and_changes_are_audited(client, app, demo, login, clock):
    letter, offer = _kari_rows(app, demo)
    headers = login(KARI, channel=Channel.SMS)
    requests = [
        ("GET", "/api/v1/me/letters", None, "letter.list", None),
        ("GET", f"/api/v1/me/letters/{letter}", None, "letter.read", ("letter", letter)),
        ("GET", "/api/v1/me/offers", None, "offer.list", None),
        ("POST", f"/api/v1/me/offers/{offer}/answer", {"answer": "accept"}, "offer.accept",
         ("kindergarten_offer", offer)),
        ("GET", "/api/v1/me/invoices", None, "invoice.list", None),
        ("GET", "/api/v1/me/properties", None, "property.list", None),
    ]
    for method, path, body, action, target in requests:
        clock.advance(seconds=1)
        seen = len(_events(app))
        response = client.open(path, method=method, json=body, headers=headers)
        assert response.status_code == 200, path

        new = _events(app)[seen:]
        assert [e.action for e in new] == [action], path
        (event,) = new
        assert event.actor_type == ActorType.CITIZEN
        assert event.actor_id == f"citizen:{demo[KARI]}"
        assert event.citizen_id == demo[KARI]
        assert event.channel == "sms"
        assert event.at == clock.now()
        if target:
            assert (event.object_type, event.object_id) == (target[0], str(target[1]))


def test_the_dispatch_is_audited_as_the_case_system(client, app, demo, dispatch_headers):
    seen = len(_events(app))
    response = client.post("/api/v1/dispatch/letters", headers=dispatch_headers, json={
        "fnr": KARI, "sender_unit": "Byggesak", "title": "Vedtak", "body": "Innvilget.",
        "category": "vedtak"})
    assert response.status_code == 201

    new = _events(app)[seen:]
    (event,) = [e for e in new if e.action == "letter.dispatch"]
    assert {e.action for e in new} == {"letter.dispatch", "letter.notice"}  # Kari gets an SMS
    assert (event.actor_type, event.actor_id, event.channel) == (
        ActorType.SYSTEM, "case-system", "dispatch")
    assert event.citizen_id == demo[KARI]
    assert event.object_id == str(response.json["id"])


def test_refused_requests_leave_no_read_events(client, app, demo, login):
    seen = len(_events(app))
    headers = login(KARI)
    assert client.get("/api/v1/me/letters/999999", headers=headers).status_code == 404
    assert client.get("/api/v1/me/letters",
                      headers={**headers, "X-Conversation-Id": "other"}).status_code == 401
    assert [e.action for e in _events(app)[seen:]] == ["session.start"]


REWRITES = [
    update(AuditEvent).values(action="letter.read"),
    update(AuditEvent).values(citizen_id=None),
    delete(AuditEvent),
    text("DELETE FROM audit_events WHERE id = (SELECT MIN(id) FROM audit_events)"),
]


def test_audit_events_are_append_only(app, demo):
    engine = app.extensions["portal"].engine
    events = _events(app)
    before = [(e.id, e.action, e.citizen_id) for e in events]
    assert before  # the demo load is audited

    for statement in REWRITES:
        with pytest.raises(DBAPIError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(statement)
        assert [(e.id, e.action, e.citizen_id) for e in _events(app)] == before, statement

    # Appending still works.
    with engine.begin() as conn:
        conn.execute(AuditEvent.__table__.insert().values(
            at=events[0].at, actor_type=ActorType.SYSTEM, actor_id="test",
            action="test.append"))
    assert [e.action for e in _events(app)] == [action for _, action, _ in before] + [
        "test.append"]
