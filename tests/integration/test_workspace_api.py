"""The caseworker workspace's JSON API over the real portal (SQLite and PostgreSQL)."""
from __future__ import annotations

from sqlalchemy import select

from portal.models import AuditEvent, ConversationNote, TranscriptMessage
from tests.workspace_helpers import (GATEWAY, SERVICE, connect, conversation_id, staff_token,
                                     waiting_webchat, web_message, ws_app)  # noqa: F401

API = "/api/v1/staff/conversations"


def fetch(app, query):
    """Runs a query in a fresh session (none stays open: SQLite writers wait for readers)."""
    with app.extensions["portal"].sessions() as db:
        return db.execute(query).scalars().all()


def _live(client, sender):
    """One poll of the web chat channel, then the next one confirming what it showed."""
    response = client.post("/api/v1/gateway/webchat/live", headers=GATEWAY,
                           json={"conversations": [sender]})
    messages = response.get_json()["messages"]
    client.post("/api/v1/gateway/webchat/live", headers=GATEWAY,
                json={"conversations": [sender], "delivered": [m["id"] for m in messages]})
    return [m["text"] for m in messages]


def test_queue_claim_reply_and_hand_back_over_the_citizens_web_chat(ws_app, clock):
    client = ws_app.test_client()
    siri, siri_h = staff_token(ws_app, clock, "siri@bergen.kommune.no", name="Siri Berg")
    _, ola_h = staff_token(ws_app, clock, "ola@bergen.kommune.no", name="Ola Nordmann")
    first = waiting_webchat(client)
    clock.advance(seconds=120)
    second = waiting_webchat(client, language="en")
    clock.advance(seconds=60)

    queue = client.get(f"{API}?status=waiting", headers=siri_h).get_json()
    assert [c["id"] for c in queue["conversations"]] == [conversation_id(ws_app, first),
                                                        conversation_id(ws_app, second)]
    assert queue["conversations"][0]["waiting_since"] < queue["conversations"][1]["waiting_since"]
    assert queue["total"] == 2 and queue["conversations"][1]["language"] == "en"
    cid = queue["conversations"][0]["id"]

    claimed = client.post(f"{API}/{cid}/claim", headers=siri_h, json={})
    assert claimed.status_code == 200, claimed.get_json()
    assert claimed.get_json()["conversation"]["owner"] == "Siri"
    assert _live(client, first) == ["Du snakker nå med Siri i Bergen kommune."]
    again = client.post(f"{API}/{cid}/claim", headers=siri_h, json={})  # a retried claim
    assert again.status_code == 200 and _live(client, first) == []

    refused = client.post(f"{API}/{cid}/claim", headers=ola_h, json={})
    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "owned_by_another"
    assert refused.get_json()["error"]["details"]["holder"] == "Siri"
    not_owner = client.post(f"{API}/{cid}/messages", headers=ola_h, json={"text": "Hei"})
    assert not_owner.status_code == 409 and not_owner.get_json()["error"]["code"] == "not_owner"

    # The browser stopped polling long ago: the citizen has left, nothing is recorded.
    clock.advance(seconds=60)
    before = client.get(f"{API}/{cid}", headers=siri_h).get_json()["messages"]
    connect(client, first)  # the channel polls again: the browser is connected
    reply = client.post(f"{API}/{cid}/messages", headers=siri_h,
                        json={"text": "Hei, jeg heter Siri. Hva gjelder det?"})
    assert reply.status_code == 201, reply.get_json()
    assert _live(client, first) == ["Hei, jeg heter Siri. Hva gjelder det?"]

    # The citizen writes back: a person answers, the bot's replies are dropped, not sent.
    response = client.post("/api/v1/gateway/webchat/messages", headers=GATEWAY, json={
        "sender": first, "text": "Det gjelder faktura 12", "message_id": "m-back"})
    assert response.get_json()["route"] == "person"
    answered = client.post(f"/api/v1/gateway/webchat/messages/"
                           f"{response.get_json()['message_id']}/replies", headers=GATEWAY,
                           json={"messages": [{"text": "Bot-svar"}]})
    assert answered.get_json()["send"] == []

    detail = client.get(f"{API}/{cid}", headers=siri_h).get_json()
    authors = [(m["author"], m["status"]) for m in detail["messages"][len(before):]]
    assert authors == [("caseworker", "delivered"), ("citizen", None), ("bot", "dropped")]
    citizen = [m for m in detail["messages"] if m["author"] == "citizen"][0]
    assert citizen["intent"] == "human_handoff" and citizen["confidence"] == 0.93

    released = client.post(f"{API}/{cid}/release", headers=siri_h)
    assert released.status_code == 200
    assert released.get_json()["conversation"]["owner"] is None
    assert _live(client, first) == ["Du snakker nå med assistenten igjen."]
    again = client.post("/api/v1/gateway/webchat/messages", headers=GATEWAY, json={
        "sender": first, "text": "Takk", "message_id": "m-thanks"})
    assert again.get_json()["route"] == "bot"
    assert client.get(f"{API}?status=waiting", headers=siri_h).get_json()["total"] == 1


def test_the_web_chat_citizen_who_left_is_not_answered(ws_app, clock):
    client = ws_app.test_client()
    _, headers = staff_token(ws_app, clock, "siri@bergen.kommune.no")
    sender = waiting_webchat(client)
    cid = conversation_id(ws_app, sender)
    assert client.post(f"{API}/{cid}/claim", headers=headers, json={}).status_code == 200
    connect(client, sender)
    assert client.get(f"{API}/{cid}", headers=headers).get_json()["connected"] is True
    clock.advance(seconds=30)  # no poll for this browser since: it is gone
    assert client.get(f"{API}/{cid}", headers=headers).get_json()["connected"] is False
    left = client.post(f"{API}/{cid}/messages", headers=headers, json={"text": "Er du der?"})
    assert left.status_code == 409 and left.get_json()["error"]["code"] == "citizen_left"
    detail = client.get(f"{API}/{cid}", headers=headers).get_json()
    assert "Er du der?" not in [m["text"] for m in detail["messages"]]


def test_an_admin_reassigns_a_caseworker_cannot(ws_app, clock):
    client = ws_app.test_client()
    _, siri = staff_token(ws_app, clock, "siri@bergen.kommune.no", name="Siri Berg")
    _, ola = staff_token(ws_app, clock, "ola@bergen.kommune.no", name="Ola Nordmann")
    _, anne = staff_token(ws_app, clock, "anne@bergen.kommune.no", role="admin",
                          name="Anne Admin")
    cid = conversation_id(ws_app, waiting_webchat(client))
    assert client.post(f"{API}/{cid}/claim", headers=siri, json={}).status_code == 200
    refused = client.post(f"{API}/{cid}/claim", headers=ola, json={"reassign": True})
    assert refused.status_code == 409
    taken = client.post(f"{API}/{cid}/claim", headers=anne, json={"reassign": True})
    assert taken.status_code == 200 and taken.get_json()["conversation"]["owner"] == "Anne"
    mine = client.get(f"{API}?status=mine", headers=siri).get_json()
    assert mine["total"] == 0
    assert client.get(f"{API}?status=mine", headers=anne).get_json()["total"] == 1


def test_a_claim_without_a_reply_goes_back_to_the_queue(ws_app, clock):
    client = ws_app.test_client()
    _, headers = staff_token(ws_app, clock, "siri@bergen.kommune.no")
    quiet = conversation_id(ws_app, waiting_webchat(client))
    busy_key = waiting_webchat(client)
    busy = conversation_id(ws_app, busy_key)
    for cid in (quiet, busy):
        assert client.post(f"{API}/{cid}/claim", headers=headers, json={}).status_code == 200
    assert client.get(f"{API}?status=waiting", headers=headers).get_json()["total"] == 0
    clock.advance(seconds=9 * 60)
    connect(client, busy_key)
    assert client.post(f"{API}/{busy}/messages", headers=headers,
                       json={"text": "Jeg ser på saken"}).status_code == 201
    clock.advance(seconds=2 * 60)  # 11 minutes since the claims; one of them replied
    waiting = client.get(f"{API}?status=waiting", headers=headers).get_json()
    assert [c["id"] for c in waiting["conversations"]] == [quiet]
    assert waiting["conversations"][0]["owner"] is None
    assert client.get(f"{API}?status=mine", headers=headers).get_json()["total"] == 1


def test_tags_notes_reviewed_and_filters(ws_app, clock):
    client = ws_app.test_client()
    _, headers = staff_token(ws_app, clock, "siri@bergen.kommune.no")
    handed = conversation_id(ws_app, waiting_webchat(client, "Ring meg på 91234567"))
    plain_key = "web-" + "p" * 16
    web_message(client, plain_key, "asdf qwerty", intent="nlu_fallback", confidence=0.2)
    plain = conversation_id(ws_app, plain_key)

    tagged = client.post(f"{API}/{handed}/tags", headers=headers,
                         json={"add": ["Faktura", "  eiendomsskatt "]})
    assert tagged.get_json() == {"tags": ["eiendomsskatt", "faktura"]}
    note = client.post(f"{API}/{handed}/notes", headers=headers,
                       json={"text": "Innbyggeren oppga 91234567 og 14838542035"})
    assert note.status_code == 201
    [stored] = fetch(ws_app, select(ConversationNote.text))
    assert "91234567" not in stored and "14838542035" not in stored
    assert client.post(f"{API}/{handed}/reviewed", headers=headers,
                       json={"reviewed": True}).status_code == 200

    def ids(query):
        response = client.get(f"{API}?{query}", headers=headers)
        assert response.status_code == 200, response.get_json()
        return [c["id"] for c in response.get_json()["conversations"]]

    assert ids("tag=faktura") == [handed]
    assert ids("reviewed=true") == [handed] and ids("reviewed=false") == [plain]
    assert ids("handoff=true") == [handed] and ids("handoff=false") == [plain]
    assert ids("q=QWERTY") == [plain]
    assert ids("q=91234567") == []  # the text is searched as stored: redacted
    assert ids("channel=webchat&per_page=1&page=2") == [handed]
    assert ids("since=2030-01-01T00:00:00Z") == []
    detail = client.get(f"{API}/{handed}", headers=headers).get_json()
    assert detail["conversation"]["tags"] == ["eiendomsskatt", "faktura"]
    assert detail["conversation"]["reviewed"] is True
    assert detail["citizen_name"] is None and detail["conversation"]["logged_in"] is False
    assert "91234567" not in str(detail)


def test_every_staff_read_and_change_is_audited(ws_app, clock):
    client = ws_app.test_client()
    account, headers = staff_token(ws_app, clock, "siri@bergen.kommune.no")
    cid = conversation_id(ws_app, waiting_webchat(client))
    client.get(f"{API}?status=waiting", headers=headers)
    client.get(f"{API}/{cid}", headers=headers)
    client.post(f"{API}/{cid}/claim", headers=headers, json={})
    client.post(f"{API}/{cid}/notes", headers=headers, json={"text": "Sjekk faktura"})
    rows = fetch(ws_app, select(AuditEvent).where(AuditEvent.actor_id == f"staff:{account.id}")
                 .order_by(AuditEvent.id))
    actions = [(r.action, r.object_id) for r in rows]
    assert ("conversation.list", None) in actions
    assert actions.count(("conversation.read", str(cid))) == 2  # the GET and the claim's answer
    assert ("conversation.take_over", str(cid)) in actions
    assert ("conversation.note", str(cid)) in actions
    listed = [r for r in rows if r.action == "conversation.list"][0]
    assert listed.detail["ids"] == [cid] and listed.detail["filters"] == {"status": "waiting"}
    assert all(r.at is not None for r in rows)


def test_bad_input_is_refused_and_changes_nothing(ws_app, clock):
    client = ws_app.test_client()
    _, headers = staff_token(ws_app, clock, "siri@bergen.kommune.no")
    cid = conversation_id(ws_app, waiting_webchat(client))
    count = fetch(ws_app, select(TranscriptMessage.id))
    cases = [
        ("get", f"{API}?status=bogus", None, 422),
        ("get", f"{API}?per_page=1000", None, 422),
        ("get", f"{API}?since=yesterday", None, 422),
        ("get", f"{API}/999999", None, 404),
        ("get", f"{API}/99999999999", None, 404),
        ("post", f"{API}/{cid}/messages", {"text": ""}, 422),
        ("post", f"{API}/{cid}/messages", {"text": "x" * 5000}, 422),
        ("post", f"{API}/{cid}/tags", {"add": ["x" * 41]}, 422),
        ("post", f"{API}/{cid}/tags", {"add": "faktura"}, 422),
        ("post", f"{API}/{cid}/notes", {}, 422),
        ("post", f"{API}/{cid}/claim", {"reassign": "kanskje"}, 422),
        ("post", f"{API}/999999/claim", {}, 404),
    ]
    for method, url, body, status in cases:
        response = getattr(client, method)(url, headers=headers, json=body)
        assert response.status_code == status, (url, response.get_json())
        error = response.get_json()["error"]
        assert error["code"] and error["message"]
    broken = client.post(f"{API}/{cid}/notes", headers={**headers,
                         "Content-Type": "application/json"}, data="{not json")
    assert broken.status_code == 400
    assert fetch(ws_app, select(TranscriptMessage.id)) == count
    assert fetch(ws_app, select(ConversationNote.id)) == []
    assert client.get(f"{API}/{cid}", headers=headers).get_json()["conversation"]["owner"] is None


def test_no_citizen_session_or_service_token_reaches_the_staff_api(ws_app, clock, login):
    client = ws_app.test_client()
    cid = conversation_id(ws_app, waiting_webchat(client))
    citizen = login("14838542035")
    for headers in ({}, SERVICE, GATEWAY, citizen, {"Authorization": "Bearer staff_nope"}):
        for method, url in (("get", API), ("get", f"{API}/{cid}"),
                            ("post", f"{API}/{cid}/claim")):
            response = getattr(client, method)(url, headers=headers, json={})
            assert response.status_code == 401, (headers, url)
            assert response.get_json()["error"]["code"] == "invalid_token"


def test_weekly_figures(ws_app, clock):
    from datetime import timedelta

    from portal.conversations import workspace
    from portal.staff import accounts

    client = ws_app.test_client()
    _, headers = staff_token(ws_app, clock, "siri@bergen.kommune.no")
    web_message(client, "web-" + "b" * 16, "Når er det søppeltømming?", intent="waste",
                confidence=0.9)  # the bot alone
    helped = conversation_id(ws_app, waiting_webchat(client))
    clock.advance(seconds=4 * 60)
    assert client.post(f"{API}/{helped}/claim", headers=headers, json={}).status_code == 200
    start = clock.now() - timedelta(days=14)
    with ws_app.extensions["portal"].sessions() as db:
        member = accounts.find(db, "siri@bergen.kommune.no")
        weeks = workspace.weekly(db, member, start, clock.now() + timedelta(days=1),
                                 clock.now())
        db.commit()
    [week] = weeks
    assert week.start.weekday() == 0 and week.start <= clock.now()
    assert (week.conversations, week.bot_alone, week.handoffs) == (2, 1, 1)
    assert week.bot_share == 0.5 and week.median_wait_minutes == 4.0
