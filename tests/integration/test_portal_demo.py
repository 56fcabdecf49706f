"""The demo municipality: loaded from portal/demo/citizens.yaml, idempotently."""
from __future__ import annotations

import yaml
from sqlalchemy import func, select

from portal.models import (
    AuditEvent,
    Channel,
    Citizen,
    Invoice,
    KindergartenOffer,
    Language,
    Letter,
    LetterStatus,
    Property,
    property_owners,
)
from portal.services.demo import DEMO_FILE, load_demo
from tests.conftest import AISHA, KARI, NINA, OLA, PER, T0, UNKNOWN

SPEC = yaml.safe_load(DEMO_FILE.read_text(encoding="utf-8"))


def _count(s, model, citizen_id=None) -> int:
    query = select(func.count()).select_from(model)
    if citizen_id is not None:
        query = query.where(model.citizen_id == citizen_id)
    return s.execute(query).scalar_one()


def _counts(s) -> dict:
    return {model.__name__: _count(s, model)
            for model in (Citizen, Letter, KindergartenOffer, Invoice, Property, AuditEvent)}


def test_load_demo_twice_creates_the_citizens_once(app, clock):
    portal = app.extensions["portal"]
    with portal.sessions() as s:
        first = load_demo(s, portal.settings, now=clock.now())
        s.commit()
        after_first = _counts(s)
    clock.advance(days=3)
    with portal.sessions() as s:
        second = load_demo(s, portal.settings, now=clock.now())
        s.commit()
        after_second = _counts(s)

    names = ["Kari Nordmann", "Ola Hansen", "Aisha Rahman", "Per Olsen", "Nina Berg"]
    assert first.created == names and first.skipped == []
    assert second.created == [] and second.skipped == names
    assert after_second == after_first
    assert after_first["Citizen"] == 5
    assert after_first["AuditEvent"] == 8  # citizen.create each, personal_code.set for 3


def test_counts_match_the_yaml(app, demo):
    assert set(demo) == {KARI, OLA, AISHA, PER, NINA}
    assert UNKNOWN not in demo
    assert SPEC["unknown_fnr"] == UNKNOWN
    with app.extensions["portal"].sessions() as s:
        for person in SPEC["citizens"]:
            citizen_id = demo[person["fnr"]]
            assert _count(s, Letter, citizen_id) == len(person.get("letters") or [])
            assert _count(s, Invoice, citizen_id) == len(person.get("invoices") or [])
            assert _count(s, KindergartenOffer, citizen_id) == len(
                person.get("kindergarten_offers") or [])
            owned = s.execute(select(func.count()).select_from(property_owners).where(
                property_owners.c.citizen_id == citizen_id)).scalar_one()
            assert owned == len(person.get("properties") or []), person["name"]
        kari = demo[KARI]
        assert (_count(s, Letter, kari), _count(s, KindergartenOffer, kari),
                _count(s, Invoice, kari)) == (4, 1, 3)
        assert _count(s, Property) == 1


def test_citizen_details(app, demo):
    with app.extensions["portal"].sessions() as s:
        citizens = {c.fnr: c for c in s.execute(select(Citizen)).scalars()}
    assert citizens[KARI].name == "Kari Nordmann"
    assert citizens[KARI].first_name == "Kari"
    assert citizens[KARI].mobile == "+4791234567"
    assert citizens[OLA].language == Language.NN
    assert citizens[AISHA].language == Language.EN
    assert citizens[PER].krr_reserved is True
    assert citizens[KARI].krr_reserved is False
    assert citizens[NINA].mobile is None
    assert all(c.created_at == T0 for c in citizens.values())


def test_letter_states(app, demo):
    with app.extensions["portal"].sessions() as s:
        pers = s.execute(select(Letter).where(Letter.citizen_id == demo[PER])).scalar_one()
        read = s.execute(select(Letter).where(Letter.read_at.is_not(None))).scalars().all()
        unread = s.execute(select(Letter).where(Letter.status == LetterStatus.MOTTATT)) \
            .scalars().all()
    assert pers.status == LetterStatus.PRINTET
    assert pers.read_at is None
    assert pers.printed_at is not None
    assert sorted(letter.title for letter in read) == [
        "Tilbud om barnehageplass til Yusuf", "Velkommen til Din side"]
    assert all(letter.status == LetterStatus.LEST and letter.read_via == Channel.PORTAL
               for letter in read)
    assert len(unread) == 5
    assert all(letter.print_due_at > letter.sent_at for letter in unread)
