"""Holds on a conversation (staff JSON API and the workspace page): reason, audit, roles,
CSRF; bad input is a clear 4xx JSON error and changes nothing; the purge leaves a held
conversation alone until the hold is lifted."""
from __future__ import annotations


from sqlalchemy import select

from portal.models import AuditEvent, Conversation, TranscriptMessage
from portal.services import retention
from tests.staff_helpers import create_staff, csrf_of, log_in
from tests.workspace_helpers import (conversation_id, staff_token, waiting_webchat,  # noqa: F401
                                     ws_app)

API = "/api/v1/staff/conversations"


def state(app, cid):
    with app.extensions["portal"].sessions() as db:
        c = db.get(Conversation, cid)
        return c.held_at, c.held_by, c.hold_reason


def audit(app, action):
    with app.extensions["portal"].sessions() as db:
        return db.execute(select(AuditEvent).where(AuditEvent.action == action)).scalars().all()


def test_a_caseworker_holds_a_conversation_and_the_purge_leaves_it_until_lifted(ws_app, clock):
    client = ws_app.test_client()
    cid = conversation_id(ws_app, waiting_webchat(client, "Jeg klager på vedtaket om SFO"))
    siri, headers = staff_token(ws_app, clock, "siri@bergen.kommune.no")

    held = client.post(f"{API}/{cid}/hold", headers=headers,
                       json={"reason": "  Klagesak   2026/123 "})
    assert held.status_code == 200, held.get_json()
    summary = held.get_json()["conversation"]
    assert summary["held"] is True and summary["hold_reason"] == "Klagesak 2026/123"
    assert [a.actor_id for a in audit(ws_app, "conversation.hold")] == [f"staff:{siri.id}"]
    assert "Klagesak" not in str(audit(ws_app, "conversation.hold")[0].detail)

    clock.advance(days=40)
    settings = ws_app.extensions["portal"].settings
    with ws_app.extensions["portal"].sessions() as db:
        retention.purge(db, settings, clock.now())
        assert db.execute(select(TranscriptMessage.text).where(
            TranscriptMessage.conversation_id == cid)).scalars().first() == \
            "Jeg klager på vedtaket om SFO"

    lifted = client.post(f"{API}/{cid}/hold/lift", headers=headers)
    assert lifted.status_code == 200 and lifted.get_json()["conversation"]["held"] is False
    assert len(audit(ws_app, "conversation.lift_hold")) == 1
    with ws_app.extensions["portal"].sessions() as db:
        retention.purge(db, settings, clock.now())
        assert set(db.execute(select(TranscriptMessage.text).where(
            TranscriptMessage.conversation_id == cid)).scalars()) == {""}


def test_bad_input_gets_a_clear_4xx_and_changes_nothing(ws_app, clock):
    client = ws_app.test_client()
    cid = conversation_id(ws_app, waiting_webchat(client))
    _, headers = staff_token(ws_app, clock, "siri@bergen.kommune.no")
    _, other = staff_token(ws_app, clock, "ola@bergen.kommune.no", name="Ola Nordmann")
    for payload, status in (({}, 422), ({"reason": ""}, 422), ({"reason": "   "}, 422),
                            ({"reason": 42}, 422), ({"reason": ["a"]}, 422),
                            ({"reason": "x" * 501}, 422), ({"reason": "ok", "x": 1}, 422),
                            ({"reason": "nul\x00"}, 422)):
        response = client.post(f"{API}/{cid}/hold", headers=headers, json=payload)
        assert response.status_code == status, (payload, response.get_json())
        assert response.get_json()["error"]["code"], payload
    broken = client.post(f"{API}/{cid}/hold", headers={**headers,
                         "Content-Type": "application/json"}, data=b'{"reason": ')
    assert broken.status_code == 400 and broken.get_json()["error"]["code"]
    assert client.post(f"{API}/999999/hold", headers=headers,
                       json={"reason": "x"}).status_code == 404
    assert client.post(f"{API}/{cid}/hold", json={"reason": "x"}).status_code == 401
    not_held = client.post(f"{API}/{cid}/hold/lift", headers=headers)
    assert not_held.status_code == 409 and not_held.get_json()["error"]["code"] == "not_held"
    assert state(ws_app, cid) == (None, None, None)
    assert audit(ws_app, "conversation.hold") == []

    assert client.post(f"{API}/{cid}/hold", headers=headers,
                       json={"reason": "tilsyn"}).status_code == 200
    before = state(ws_app, cid)
    twice = client.post(f"{API}/{cid}/hold", headers=other, json={"reason": "annen"})
    assert twice.status_code == 409 and twice.get_json()["error"]["code"] == "already_held"
    refused = client.post(f"{API}/{cid}/hold/lift", headers=other)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "not_holder"
    assert state(ws_app, cid) == before
    _, admin = staff_token(ws_app, clock, "anne@bergen.kommune.no", role="admin",
                           name="Anne Admin")
    assert client.post(f"{API}/{cid}/hold/lift", headers=admin).status_code == 200
    assert state(ws_app, cid) == (None, None, None)


def test_the_workspace_page_holds_and_lifts_with_csrf(ws_app, clock):
    anonymous = ws_app.test_client()
    cid = conversation_id(ws_app, waiting_webchat(anonymous))
    account = create_staff(ws_app, clock, "siri@bergen.kommune.no", name="Siri Berg")
    client = ws_app.test_client()
    assert log_in(client, clock, account).status_code == 302
    page = client.get(f"/staff/conversations/{cid}").get_data(as_text=True)
    assert "slettes automatisk etter 30 dager" in page and "Hold samtalen" in page

    assert client.post(f"/staff/conversations/{cid}/hold",
                       data={"reason": "klage"}).status_code == 400  # no CSRF token
    empty = client.post(f"/staff/conversations/{cid}/hold",
                        data={"csrf_token": csrf_of(page), "reason": " "})
    assert empty.status_code == 422 and "Skriv en grunn." in empty.get_data(as_text=True)
    assert state(ws_app, cid) == (None, None, None)
    done = client.post(f"/staff/conversations/{cid}/hold",
                       data={"csrf_token": csrf_of(page), "reason": "klage på vedtak"})
    assert done.status_code == 302
    page = client.get(done.location).get_data(as_text=True)
    assert "Samtalen holdes og slettes ikke." in page and "klage på vedtak" in page
    assert state(ws_app, cid)[1] == account.id
    lifted = client.post(f"/staff/conversations/{cid}/hold/lift",
                         data={"csrf_token": csrf_of(page)})
    assert lifted.status_code == 302
    assert "Holdet er opphevet." in client.get(lifted.location).get_data(as_text=True)
    assert state(ws_app, cid) == (None, None, None)
