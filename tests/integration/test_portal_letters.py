"""The citizen's inbox: listing order, the unread filter, and reading a letter."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from portal.models import Channel, Letter, LetterStatus
from portal.services.letters import send_due_to_print
from tests.conftest import KARI, T0

LETTERS = "/api/v1/me/letters"

FEIEVARSEL = "Feievarsel for Fjellveien 12"
TILBUD = "Tilbud om barnehageplass til Emma"
VEDTAK = "Vedtak i byggesak 2026/4711 - rammetillatelse"
VELKOMMEN = "Velkommen til Din side"


def _letter(app, title: str) -> Letter:
    with app.extensions["portal"].sessions() as s:
        return s.execute(select(Letter).where(Letter.title == title)).scalar_one()


def _titles(response) -> list:
    return [row["title"] for row in response.json["letters"]]


def test_list_is_unread_first_then_newest_first(client, login):
    response = client.get(LETTERS, headers=login(KARI))

    assert response.status_code == 200
    assert _titles(response) == [FEIEVARSEL, TILBUD, VEDTAK, VELKOMMEN]
    assert [row["unread"] for row in response.json["letters"]] == [True, True, True, False]
    assert response.json["unread_count"] == 3
    first = response.json["letters"][0]
    assert first["sender_unit"] == "Bergen brannvesen"
    assert first["category"] == "varsel"
    assert first["status"] == "MOTTATT"
    assert datetime.fromisoformat(first["sent_at"]) == T0 - timedelta(days=1)
    assert "body" not in first  # the list is a summary; the body is only shown when read


def test_a_read_letter_sinks_below_older_unread_ones(client, login, app):
    headers = login(KARI)
    newest = _letter(app, FEIEVARSEL)
    assert client.get(f"{LETTERS}/{newest.id}", headers=headers).status_code == 200

    response = client.get(LETTERS, headers=headers)

    assert _titles(response) == [TILBUD, VEDTAK, FEIEVARSEL, VELKOMMEN]
    assert response.json["unread_count"] == 2


def test_unread_filter_and_limit(client, login):
    headers = login(KARI)

    unread = client.get(f"{LETTERS}?unread=true", headers=headers)
    assert unread.status_code == 200
    assert _titles(unread) == [FEIEVARSEL, TILBUD, VEDTAK]
    assert all(row["unread"] for row in unread.json["letters"])

    everything = client.get(f"{LETTERS}?unread=false", headers=headers)
    assert _titles(everything) == [FEIEVARSEL, TILBUD, VEDTAK, VELKOMMEN]

    limited = client.get(f"{LETTERS}?limit=2", headers=headers)
    assert _titles(limited) == [FEIEVARSEL, TILBUD]
    assert limited.json["unread_count"] == 3  # the count is not cut by the limit


def test_reading_marks_the_letter_read_via_the_sessions_channel(client, login, app):
    letter = _letter(app, VEDTAK)
    assert letter.status == LetterStatus.MOTTATT and letter.read_at is None

    response = client.get(f"{LETTERS}/{letter.id}", headers=login(KARI, channel=Channel.SMS))

    assert response.status_code == 200
    body = response.json
    assert body["id"] == letter.id
    assert body["status"] == "LEST"
    assert body["unread"] is False
    assert body["read_via"] == "sms"
    assert datetime.fromisoformat(body["read_at"]) == T0
    assert body["body"].startswith("Søknaden om rammetillatelse")
    assert datetime.fromisoformat(body["print_due_at"]) == letter.print_due_at

    stored = _letter(app, VEDTAK)
    assert stored.status == LetterStatus.LEST
    assert stored.read_via == Channel.SMS
    assert stored.read_at == T0


def test_reading_twice_keeps_the_first_read(client, login, app, clock):
    letter = _letter(app, TILBUD)
    first = client.get(f"{LETTERS}/{letter.id}", headers=login(KARI, channel=Channel.WEBCHAT))
    assert first.status_code == 200

    clock.advance(minutes=20)
    second = client.get(f"{LETTERS}/{letter.id}", headers=login(KARI, channel=Channel.SMS))

    assert second.status_code == 200
    assert datetime.fromisoformat(second.json["read_at"]) == T0
    assert second.json["read_via"] == "webchat"
    stored = _letter(app, TILBUD)
    assert stored.read_at == T0
    assert stored.read_via == Channel.WEBCHAT
    assert stored.status == LetterStatus.LEST


def test_an_already_read_demo_letter_is_not_read_again(client, login, app):
    letter = _letter(app, VELKOMMEN)
    earlier = letter.read_at
    assert earlier is not None and earlier < T0

    response = client.get(f"{LETTERS}/{letter.id}", headers=login(KARI, channel=Channel.SMS))

    assert response.status_code == 200
    assert datetime.fromisoformat(response.json["read_at"]) == earlier
    assert response.json["read_via"] == "portal"


def test_reading_after_the_print_order_keeps_it_printed(client, login, app, clock):
    """Once sent to print the paper copy goes out; a later digital read is still recorded."""
    letter = _letter(app, VEDTAK)
    clock.at = letter.print_due_at
    portal = app.extensions["portal"]
    with portal.sessions() as s:
        assert letter.id in send_due_to_print(s, now=clock.now())
        s.commit()

    response = client.get(f"{LETTERS}/{letter.id}", headers=login(KARI))

    assert response.status_code == 200
    assert response.json["status"] == "SENDT_PRINT"
    stored = _letter(app, VEDTAK)
    assert stored.status == LetterStatus.SENDT_PRINT
    assert stored.read_at == clock.now()
    assert stored.sent_to_print_at == letter.print_due_at
