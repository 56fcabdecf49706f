"""Kindergarten offers: listing, and the guardian's answer recorded exactly once."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from portal.models import AuditEvent, Channel, KindergartenOffer, OfferStatus
from tests.conftest import AISHA, KARI, OLA, T0

OFFERS = "/api/v1/me/offers"


def _offers(app, citizen_id: int) -> list:
    with app.extensions["portal"].sessions() as s:
        return s.execute(select(KindergartenOffer)
                         .where(KindergartenOffer.citizen_id == citizen_id)
                         .order_by(KindergartenOffer.id)).scalars().all()


def _kari_offer(app, demo) -> KindergartenOffer:
    (offer,) = _offers(app, demo[KARI])
    return offer


def _answer(client, headers, offer_id, answer):
    return client.post(f"{OFFERS}/{offer_id}/answer", json={"answer": answer}, headers=headers)


def _answer_events(app) -> list:
    with app.extensions["portal"].sessions() as s:
        return s.execute(select(AuditEvent.action).where(
            AuditEvent.action.in_(["offer.accept", "offer.decline"]))).scalars().all()


def test_kari_lists_her_offer(client, login):
    response = client.get(OFFERS, headers=login(KARI))

    assert response.status_code == 200
    (offer,) = response.json["offers"]
    assert offer["child_name"] == "Emma Nordmann"
    assert offer["kindergarten"] == "Solstrålen barnehage"
    assert offer["child_birth_date"] == "2024-05-10"
    assert offer["start_date"] == "2027-08-01"
    assert offer["status"] == "OFFERED"
    assert datetime.fromisoformat(offer["deadline"]) == T0 + timedelta(days=8)
    assert offer["answered_at"] is None and offer["answered_via"] is None


def test_aisha_sees_her_open_offer_first_and_the_expired_one(client, login):
    headers = login(AISHA)

    response = client.get(OFFERS, headers=headers)
    assert [(o["kindergarten"], o["status"]) for o in response.json["offers"]] == [
        ("Fjellsiden barnehage", "OFFERED"), ("Nordnes barnehage", "EXPIRED")]

    open_only = client.get(f"{OFFERS}?open=true", headers=headers)
    assert [o["kindergarten"] for o in open_only.json["offers"]] == ["Fjellsiden barnehage"]


def test_another_citizen_cannot_answer_karis_offer(client, login, app, demo):
    offer = _kari_offer(app, demo)

    for answer in ("accept", "decline"):
        response = _answer(client, login(OLA), offer.id, answer)
        assert response.status_code == 404
        assert response.json["error"]["code"] == "offer_not_found"

    stored = _kari_offer(app, demo)
    assert stored.status == OfferStatus.OFFERED
    assert stored.answered_at is None
    assert _answer_events(app) == []


def test_accept(client, login, app, demo):
    offer = _kari_offer(app, demo)

    response = _answer(client, login(KARI, channel=Channel.SMS), offer.id, "accept")

    assert response.status_code == 200
    assert response.json["already_answered"] is False
    assert response.json["offer"]["status"] == "ACCEPTED"
    assert response.json["offer"]["answered_via"] == "sms"
    assert datetime.fromisoformat(response.json["offer"]["answered_at"]) == T0
    stored = _kari_offer(app, demo)
    assert stored.status == OfferStatus.ACCEPTED
    assert stored.answered_via == Channel.SMS
    assert stored.answered_at == T0
    assert _answer_events(app) == ["offer.accept"]


def test_decline(client, login, app, demo):
    offer = _kari_offer(app, demo)

    response = _answer(client, login(KARI, channel=Channel.WEBCHAT), offer.id, "decline")

    assert response.status_code == 200
    assert response.json["offer"]["status"] == "DECLINED"
    assert _kari_offer(app, demo).status == OfferStatus.DECLINED
    assert _kari_offer(app, demo).answered_via == Channel.WEBCHAT
    assert _answer_events(app) == ["offer.decline"]


def test_accepting_twice_reports_the_first_answer(client, login, app, demo, clock):
    offer = _kari_offer(app, demo)
    assert _answer(client, login(KARI, channel=Channel.SMS), offer.id, "accept").status_code \
        == 200

    clock.advance(minutes=10)
    again = _answer(client, login(KARI, channel=Channel.WEBCHAT), offer.id, "accept")

    assert again.status_code == 200
    assert again.json["already_answered"] is True
    assert again.json["offer"]["status"] == "ACCEPTED"
    assert datetime.fromisoformat(again.json["offer"]["answered_at"]) == T0
    assert again.json["offer"]["answered_via"] == "sms"
    assert _kari_offer(app, demo).answered_at == T0
    assert _answer_events(app) == ["offer.accept"]


def test_declining_after_accepting_is_a_conflict(client, login, app, demo, clock):
    offer = _kari_offer(app, demo)
    headers = login(KARI)
    assert _answer(client, headers, offer.id, "accept").status_code == 200

    clock.advance(minutes=5)
    response = _answer(client, headers, offer.id, "decline")

    assert response.status_code == 409
    assert response.json["error"]["code"] == "offer_already_answered"
    assert response.json["error"]["details"]["status"] == "ACCEPTED"
    assert datetime.fromisoformat(response.json["error"]["details"]["answered_at"]) == T0
    assert _kari_offer(app, demo).status == OfferStatus.ACCEPTED
    assert _answer_events(app) == ["offer.accept"]


def test_an_answer_exactly_at_the_deadline_counts(client, login, app, demo, clock):
    offer = _kari_offer(app, demo)
    clock.at = offer.deadline

    response = _answer(client, login(KARI), offer.id, "decline")

    assert response.status_code == 200
    assert response.json["offer"]["status"] == "DECLINED"


def test_an_answer_after_the_deadline_is_refused_and_the_offer_expires(
        client, login, app, demo, clock):
    offer = _kari_offer(app, demo)
    clock.at = offer.deadline + timedelta(seconds=1)
    headers = login(KARI)

    response = _answer(client, headers, offer.id, "accept")

    assert response.status_code == 409
    assert response.json["error"]["code"] == "offer_deadline_passed"
    assert datetime.fromisoformat(response.json["error"]["details"]["deadline"]) == \
        offer.deadline
    assert _kari_offer(app, demo).answered_at is None

    listing = client.get(OFFERS, headers=headers)
    assert [o["status"] for o in listing.json["offers"]] == ["EXPIRED"]
    assert client.get(f"{OFFERS}?open=true", headers=headers).json["offers"] == []
    assert _kari_offer(app, demo).status == OfferStatus.EXPIRED
    assert _answer_events(app) == []


def test_aisha_cannot_answer_her_expired_offer(client, login, app, demo):
    expired = next(o for o in _offers(app, demo[AISHA]) if o.status == OfferStatus.EXPIRED)
    headers = login(AISHA)

    for answer in ("accept", "decline"):
        response = _answer(client, headers, expired.id, answer)
        assert response.status_code == 409, answer
        assert response.json["error"]["code"] == "offer_deadline_passed"

    stored = next(o for o in _offers(app, demo[AISHA]) if o.id == expired.id)
    assert stored.status == OfferStatus.EXPIRED
    assert stored.answered_at is None
    assert _answer_events(app) == []


INVALID_ANSWERS = [
    {"answer": "maybe"}, {"answer": "ACCEPT"}, {"answer": ""}, {"answer": None},
    {"answer": True}, {"answer": ["accept"]}, {}, {"answer": "accept", "note": "thanks"},
    ["accept"], "accept",
]


def test_an_invalid_answer_is_rejected(client, login, app, demo):
    offer = _kari_offer(app, demo)
    headers = login(KARI)

    for payload in INVALID_ANSWERS:
        response = client.post(f"{OFFERS}/{offer.id}/answer", json=payload, headers=headers)
        assert response.status_code == 422, payload
        assert response.json["error"]["code"] == "invalid_input", payload

    assert _kari_offer(app, demo).status == OfferStatus.OFFERED
    assert _answer_events(app) == []
