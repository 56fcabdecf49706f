"""The paper fallback: print deadlines of dispatched letters and the print run."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from portal.models import AuditEvent, Letter, LetterStatus
from portal.services.letters import send_due_to_print
from tests.conftest import KARI, NINA, PER, T0

DISPATCH = "/api/v1/dispatch/letters"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def _dispatch(client, headers, fnr: str, title: str) -> dict:
    response = client.post(DISPATCH, headers=headers, json={
        "fnr": fnr, "sender_unit": "Byggesak", "title": title, "body": "Vedtak.",
        "category": "vedtak"})
    assert response.status_code == 201, response.json
    return response.json


def _run_print(app, clock) -> list:
    with app.extensions["portal"].sessions() as s:
        ids = send_due_to_print(s, now=clock.now())
        s.commit()
    return ids


def _ids_by_title(app) -> dict:
    with app.extensions["portal"].sessions() as s:
        return {title: id_ for id_, title in s.execute(select(Letter.id, Letter.title))}


def _letter(app, letter_id: int) -> Letter:
    with app.extensions["portal"].sessions() as s:
        return s.get(Letter, letter_id)


@pytest.mark.parametrize("sent_at, due", [
    # Tuesday 11:00 Oslo: 40 working hours is the same time a week later.
    (T0, utc(2026, 12, 1, 10)),
    # Wednesday 23 Dec 10:00 Oslo: Christmas Day and the weekend do not count.
    (utc(2026, 12, 23, 9), utc(2026, 12, 31, 9)),
    # Tuesday 16 May 2028 08:00 Oslo: 17 May is a holiday.
    (utc(2028, 5, 16, 6), utc(2028, 5, 23, 14)),
])
def test_dispatched_letter_gets_a_deadline_of_40_working_hours(
        client, demo, clock, dispatch_headers, sent_at, due):
    clock.at = sent_at

    body = _dispatch(client, dispatch_headers, NINA, "Vedtak")

    assert datetime.fromisoformat(body["print_due_at"]) == due
    stored = _letter(client.application, body["id"])
    assert stored.sent_at == sent_at
    assert stored.print_due_at == due
    assert stored.status == LetterStatus.MOTTATT


def test_krr_reserved_citizen_is_due_for_print_at_once(client, demo, clock, dispatch_headers):
    body = _dispatch(client, dispatch_headers, PER, "Vedtak om eiendomsskatt")

    assert datetime.fromisoformat(body["print_due_at"]) == T0
    assert _letter(client.application, body["id"]).print_due_at == T0
    assert body["id"] in _run_print(client.application, clock)
    assert _letter(client.application, body["id"]).status == LetterStatus.SENDT_PRINT


def test_demo_letter_of_krr_reserved_citizen_is_printed(app, demo):
    with app.extensions["portal"].sessions() as s:
        letter = s.execute(select(Letter).where(Letter.citizen_id == demo[PER])).scalar_one()
    assert letter.status == LetterStatus.PRINTET
    assert letter.print_due_at == letter.sent_at
    assert letter.printed_at == letter.sent_at


def test_print_run_moves_only_unread_letters_past_their_deadline(
        client, app, login, clock, dispatch_headers):
    dispatched = _dispatch(client, dispatch_headers, KARI, "Nytt vedtak")["id"]
    ids = _ids_by_title(app)
    feievarsel_kari = ids["Feievarsel for Fjellveien 12"]
    tilbud, vedtak = ids["Tilbud om barnehageplass til Emma"], ids[
        "Vedtak i byggesak 2026/4711 - rammetillatelse"]
    feievarsel_aisha = ids["Feievarsel for Nygårdsgaten 5"]
    fyrverkeri = ids["Svar på søknad om bruk av fyrverkeri"]

    # Nothing is due yet (Per's letter is already printed, read letters never are).
    assert _run_print(app, clock) == []

    # Letters sent at the weekend are due Friday 27 Nov 16:00 Oslo (15:00 UTC).
    clock.at = utc(2026, 11, 27, 14, 59)
    assert _run_print(app, clock) == []
    clock.at = utc(2026, 11, 27, 15, 0)
    assert sorted(_run_print(app, clock)) == sorted([tilbud, vedtak])
    assert _run_print(app, clock) == []  # a second run finds nothing new

    # Kari reads her Monday letter before its deadline: it is never printed.
    clock.at = utc(2026, 11, 30, 9, 0)
    read = client.get(f"/api/v1/me/letters/{feievarsel_kari}", headers=login(KARI))
    assert read.status_code == 200
    clock.at = utc(2026, 11, 30, 10, 0)
    assert _run_print(app, clock) == [feievarsel_aisha]

    clock.advance(days=1)
    assert sorted(_run_print(app, clock)) == sorted([fyrverkeri, dispatched])

    clock.advance(days=30)
    assert _run_print(app, clock) == []

    assert _letter(app, feievarsel_kari).status == LetterStatus.LEST
    assert _letter(app, feievarsel_kari).sent_to_print_at is None
    assert _letter(app, tilbud).status == LetterStatus.SENDT_PRINT
    assert _letter(app, tilbud).sent_to_print_at == utc(2026, 11, 27, 15, 0)
    assert _letter(app, dispatched).sent_to_print_at == utc(2026, 12, 1, 10, 0)

    with app.extensions["portal"].sessions() as s:
        printed = s.execute(select(AuditEvent.object_id, AuditEvent.actor_id).where(
            AuditEvent.action == "letter.send_to_print")).all()
    assert sorted(int(object_id) for object_id, _ in printed) == sorted(
        [tilbud, vedtak, feievarsel_aisha, fyrverkeri, dispatched])
    assert {actor for _, actor in printed} == {"print-due"}
