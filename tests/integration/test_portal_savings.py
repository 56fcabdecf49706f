"""What digital delivery saves: letters read digitally versus printed, per month."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

from sqlalchemy import select

from portal.app import create_app
from portal.models import Letter
from portal.services.letters import send_due_to_print
from tests.conftest import DISPATCH_TOKEN, KARI, OLA

SAVINGS = "/api/v1/reports/savings"


def _month(month, digital, printed, share, saving_ore, saving_text) -> dict:
    return {"month": month, "read_digitally": digital, "printed": printed,
            "digital_share": share, "saving_ore": saving_ore, "saving_text": saving_text}


def _letter_id(app, title: str) -> int:
    with app.extensions["portal"].sessions() as s:
        return s.execute(select(Letter.id).where(Letter.title == title)).scalar_one()


def _print_run(app, clock) -> None:
    with app.extensions["portal"].sessions() as s:
        send_due_to_print(s, now=clock.now())
        s.commit()


def test_demo_savings(client, demo, service_headers):
    response = client.get(SAVINGS, headers=service_headers)

    assert response.status_code == 200
    # Kari read her welcome letter in October and Aisha her offer letter in November;
    # Per's letter went on paper in November.
    assert response.json == {
        "saving_per_letter_ore": 2200,
        "months": [_month("2026-10", 1, 0, 1.0, 2200, "22,00 kr"),
                   _month("2026-11", 1, 1, 0.5, 2200, "22,00 kr")],
        "total_saving_ore": 4400,
    }


def test_reads_and_print_runs_are_counted_in_their_month(client, app, login, clock,
                                                         service_headers):
    feievarsel = _letter_id(app, "Feievarsel for Fjellveien 12")
    assert client.get(f"/api/v1/me/letters/{feievarsel}", headers=login(KARI)).status_code \
        == 200
    clock.at = datetime(2026, 11, 27, 15, 0, tzinfo=timezone.utc)
    _print_run(app, clock)   # Kari's two weekend letters
    clock.at = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
    _print_run(app, clock)   # Aisha's notice and Ola's decision
    # A digital read after the print order is not a saving.
    fyrverkeri = _letter_id(app, "Svar på søknad om bruk av fyrverkeri")
    assert client.get(f"/api/v1/me/letters/{fyrverkeri}", headers=login(OLA)).status_code \
        == 200

    body = client.get(SAVINGS, headers=service_headers).json

    assert body["months"] == [
        _month("2026-10", 1, 0, 1.0, 2200, "22,00 kr"),
        _month("2026-11", 2, 3, 0.4, 4400, "44,00 kr"),
        _month("2026-12", 0, 2, 0.0, 0, "0,00 kr"),
    ]
    assert body["total_saving_ore"] == 6600


def test_months_are_oslo_calendar_months(client, app, login, clock, service_headers):
    # 23:30 UTC on 30 November is 00:30 on 1 December in Bergen.
    clock.at = datetime(2026, 11, 30, 23, 30, tzinfo=timezone.utc)
    feievarsel = _letter_id(app, "Feievarsel for Fjellveien 12")
    assert client.get(f"/api/v1/me/letters/{feievarsel}", headers=login(KARI)).status_code \
        == 200

    months = client.get(SAVINGS, headers=service_headers).json["months"]

    assert [(m["month"], m["read_digitally"]) for m in months] == [
        ("2026-10", 1), ("2026-11", 1), ("2026-12", 1)]


def test_the_saving_per_letter_comes_from_the_settings(settings, clock, demo, service_headers):
    app = create_app(dataclasses.replace(settings, saving_per_digital_letter_ore=2500), clock)
    try:
        body = app.test_client().get(SAVINGS, headers=service_headers).json
    finally:
        app.extensions["portal"].engine.dispose()
    assert body["saving_per_letter_ore"] == 2500
    assert [m["saving_text"] for m in body["months"]] == ["25,00 kr", "25,00 kr"]
    assert body["total_saving_ore"] == 5000


def test_the_report_needs_the_service_token(client, demo, login):
    for headers in ({}, {"Authorization": "Bearer nope"},
                    {"Authorization": f"Bearer {DISPATCH_TOKEN}"}):
        response = client.get(SAVINGS, headers=headers)
        assert response.status_code == 401
        assert response.json["error"]["code"] == "invalid_token"
