"""Sessions and isolation: a citizen's session only ever reaches that citizen's data."""
from __future__ import annotations

from sqlalchemy import select

from portal.models import (
    Channel,
    CitizenSession,
    Invoice,
    KindergartenOffer,
    Letter,
    OfferStatus,
    Property,
    property_owners,
)
from tests.conftest import AISHA, DISPATCH_TOKEN, KARI, OLA

LETTERS = "/api/v1/me/letters"
OFFERS = "/api/v1/me/offers"


def _ids(app, model, citizen_id) -> set:
    with app.extensions["portal"].sessions() as s:
        return set(s.execute(select(model.id).where(model.citizen_id == citizen_id)).scalars())


def _error_code(response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.json)
    return response.json["error"]["code"]


def _citizen_requests(app, demo):
    """Every citizen endpoint, aimed at Kari's own data."""
    letter = min(_ids(app, Letter, demo[KARI]))
    offer = min(_ids(app, KindergartenOffer, demo[KARI]))
    return [
        ("GET", LETTERS, None), ("GET", f"{LETTERS}/{letter}", None), ("GET", OFFERS, None),
        ("POST", f"{OFFERS}/{offer}/answer", {"answer": "accept"}),
        ("GET", "/api/v1/me/invoices", None), ("GET", "/api/v1/me/properties", None),
    ]


def test_kari_cannot_read_olas_letter(client, app, demo, login):
    (olas_letter,) = _ids(app, Letter, demo[OLA])

    response = client.get(f"{LETTERS}/{olas_letter}", headers=login(KARI))

    assert _error_code(response, 404) == "letter_not_found"
    with app.extensions["portal"].sessions() as s:
        assert s.get(Letter, olas_letter).read_at is None
    # Ola himself can read it.
    assert client.get(f"{LETTERS}/{olas_letter}", headers=login(OLA)).status_code == 200


def test_kari_cannot_answer_aishas_offer(client, app, demo, login):
    for offer_id in _ids(app, KindergartenOffer, demo[AISHA]):
        response = client.post(f"{OFFERS}/{offer_id}/answer", json={"answer": "decline"},
                               headers=login(KARI))
        assert _error_code(response, 404) == "offer_not_found"
    with app.extensions["portal"].sessions() as s:
        statuses = s.execute(select(KindergartenOffer.status).where(
            KindergartenOffer.citizen_id == demo[AISHA])).scalars().all()
    assert sorted(statuses) == sorted([OfferStatus.OFFERED, OfferStatus.EXPIRED])


def test_every_list_holds_only_the_citizens_own_rows(client, app, demo, login):
    for fnr in (KARI, OLA, AISHA):
        headers = login(fnr)
        citizen = demo[fnr]
        letters = {row["id"] for row in client.get(LETTERS, headers=headers).json["letters"]}
        offers = {row["id"] for row in client.get(OFFERS, headers=headers).json["offers"]}
        invoices = {row["id"] for row in
                    client.get("/api/v1/me/invoices", headers=headers).json["invoices"]}
        properties = {row["id"] for row in
                      client.get("/api/v1/me/properties", headers=headers).json["properties"]}
        assert letters == _ids(app, Letter, citizen), fnr
        assert offers == _ids(app, KindergartenOffer, citizen), fnr
        assert invoices == _ids(app, Invoice, citizen), fnr
        with app.extensions["portal"].sessions() as s:
            owned = set(s.execute(select(Property.id).join(
                property_owners, property_owners.c.property_id == Property.id).where(
                property_owners.c.citizen_id == citizen)).scalars())
        assert properties == owned, fnr


def test_a_session_is_bound_to_its_conversation(client, app, demo, login):
    headers = login(KARI, conversation_id="chat-kari")

    other = {**headers, "X-Conversation-Id": "rest-chat-someone-else"}
    for method, path, body in _citizen_requests(app, demo):
        response = client.open(path, method=method, json=body, headers=other)
        assert _error_code(response, 401) == "session_invalid", path

    assert client.get(LETTERS, headers=headers).status_code == 200


def test_missing_or_wrong_credentials_are_refused(client, app, demo, login):
    headers = login(KARI)
    variants = [
        ({k: v for k, v in headers.items() if k != "Authorization"}, "invalid_token"),
        ({**headers, "Authorization": "Bearer wrong-token"}, "invalid_token"),
        ({**headers, "Authorization": f"Bearer {DISPATCH_TOKEN}"}, "invalid_token"),
        ({k: v for k, v in headers.items() if k != "X-Channel"}, "session_required"),
        ({k: v for k, v in headers.items() if k != "X-Conversation-Id"}, "session_required"),
        ({**headers, "X-Channel": "webchat"}, "session_invalid"),
        ({**headers, "X-Channel": "portal"}, "session_invalid"),
        ({**headers, "X-Conversation-Id": headers["X-Conversation-Id"][len("rest-"):]},
         "session_invalid"),
        ({}, "invalid_token"),
    ]
    for method, path, body in _citizen_requests(app, demo):
        for variant, code in variants:
            response = client.open(path, method=method, json=body, headers=variant)
            assert _error_code(response, 401) == code, (path, variant)

    with app.extensions["portal"].sessions() as s:
        offer = s.execute(select(KindergartenOffer).where(
            KindergartenOffer.citizen_id == demo[KARI])).scalar_one()
    assert offer.status == OfferStatus.OFFERED


def test_an_idle_session_expires_after_30_minutes_and_activity_keeps_it_alive(
        client, app, login, clock):
    headers = login(KARI)

    for _ in range(3):  # 87 minutes in all, but never 30 idle
        clock.advance(minutes=29)
        assert client.get(LETTERS, headers=headers).status_code == 200

    clock.advance(minutes=30, seconds=1)
    assert _error_code(client.get(LETTERS, headers=headers), 401) == "session_expired"

    # Activity after expiry does not revive it.
    clock.advance(seconds=10)
    assert _error_code(client.get(LETTERS, headers=headers), 401) == "session_ended"
    with app.extensions["portal"].sessions() as s:
        row = s.execute(select(CitizenSession)).scalar_one()
    assert row.ended_reason == "expired"


def test_a_new_login_in_the_same_conversation_ends_the_old_session(client, app, login):
    old = login(KARI, conversation_id="chat-1")
    new = login(OLA, conversation_id="chat-1")

    assert old == new  # the conversation, not a token, names the session
    titles = [row["title"] for row in client.get(LETTERS, headers=new).json["letters"]]
    assert titles == ["Svar på søknad om bruk av fyrverkeri"]
    with app.extensions["portal"].sessions() as s:
        rows = s.execute(select(CitizenSession).order_by(CitizenSession.id)).scalars().all()
    assert [(r.ended_reason, r.ended_at is None) for r in rows] == [("replaced", False),
                                                                     (None, True)]


def test_a_login_on_one_channel_is_never_used_from_another(client, app, demo, login):
    web = login(KARI, channel=Channel.WEBCHAT, conversation_id="abc")
    assert web["X-Conversation-Id"] == "web-abc"
    assert client.get(LETTERS, headers=web).status_code == 200

    # The same id named with another channel, and the same suffix in another channel's
    # conversation, find no session: the channel is fixed by the id and by the login.
    for channel, conversation in [("sms", "web-abc"), ("rest", "web-abc"),
                                  ("rest", "rest-abc"), ("sms", "sms-abc")]:
        response = client.get(LETTERS, headers={**web, "X-Channel": channel,
                                                "X-Conversation-Id": conversation})
        assert _error_code(response, 401) == "session_invalid", (channel, conversation)
    with app.extensions["portal"].sessions() as s:
        row = s.execute(select(CitizenSession)).scalar_one()
    assert (row.channel, row.conversation_id, row.ended_at) == (Channel.WEBCHAT, "web-abc", None)


def test_a_login_request_whose_id_is_not_of_its_channel_is_refused(client, app, demo,
                                                                   service_headers):
    from portal.models import OutboundSms

    for channel, conversation in [("rest", "web-abc"), ("webchat", "sms-abc"),
                                  ("sms", "rest-x"), ("rest", "default"), ("webchat", "web-")]:
        for path, body in [("/api/v1/login/start", {"fnr": KARI}),
                           ("/api/v1/login/code", {"personal_code": "2580"}),
                           ("/api/v1/login/verify", {"code": "123456"}),
                           ("/api/v1/login/personal-code/reset", {"fnr": KARI}),
                           ("/api/v1/login/personal-code/reset/cancel", {})]:
            response = client.post(path, headers=service_headers, json={
                **body, "channel": channel, "conversation_id": conversation})
            assert _error_code(response, 422) == "invalid_input", (path, channel, conversation)
            assert "conversation_id" in response.json["error"]["details"]["fields"]["json"]
    with app.extensions["portal"].sessions() as s:
        assert s.execute(select(OutboundSms)).first() is None  # no code was sent
