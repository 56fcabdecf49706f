"""Invoices: order, status filter, overdue derived from the due date, Norwegian amounts."""
from __future__ import annotations

from datetime import datetime, timezone

from tests.conftest import KARI, NINA, OLA, PER

INVOICES = "/api/v1/me/invoices"


def _kinds(response) -> list:
    return [(i["kind"], i["status"]) for i in response.json["invoices"]]


def test_kari_sees_unpaid_first_with_norwegian_amounts(client, login):
    response = client.get(INVOICES, headers=login(KARI))

    assert response.status_code == 200
    assert _kinds(response) == [("barnehage", "unpaid"), ("kommunale avgifter", "unpaid"),
                                ("eiendomsskatt", "paid")]
    barnehage, avgifter, skatt = response.json["invoices"]
    assert barnehage["amount_ore"] == 331500
    assert barnehage["amount_text"] == "3 315,00 kr"
    assert avgifter["amount_text"] == "4 980,50 kr"
    assert skatt["amount_text"] == "2 150,00 kr"
    assert barnehage["period"] == "2026-11"
    assert barnehage["due_date"] == "2026-12-04"  # ten days after Tuesday 24 November
    assert barnehage["kid"] == "202701148385000113"
    assert barnehage["account_number"] == "15031234562"
    assert [i["overdue"] for i in response.json["invoices"]] == [False, False, False]
    assert response.json["unpaid_total_ore"] == 331500 + 498050
    assert response.json["unpaid_total_text"] == "8 295,50 kr"


def test_status_filter(client, login):
    headers = login(KARI)

    paid = client.get(f"{INVOICES}?status=paid", headers=headers)
    assert paid.status_code == 200
    assert _kinds(paid) == [("eiendomsskatt", "paid")]
    assert paid.json["unpaid_total_ore"] == 0
    assert paid.json["unpaid_total_text"] == "0,00 kr"

    unpaid = client.get(f"{INVOICES}?status=unpaid", headers=headers)
    assert _kinds(unpaid) == [("barnehage", "unpaid"), ("kommunale avgifter", "unpaid")]
    assert unpaid.json["unpaid_total_text"] == "8 295,50 kr"


def test_olas_sfo_invoice_is_overdue(client, login):
    response = client.get(INVOICES, headers=login(OLA))

    assert [(i["kind"], i["period"], i["status"], i["overdue"])
            for i in response.json["invoices"]] == [
        ("SFO", "2026-10", "unpaid", True),
        ("SFO", "2026-09", "paid", False),   # a paid invoice is never overdue
    ]
    assert response.json["invoices"][0]["amount_text"] == "3 114,00 kr"
    assert response.json["unpaid_total_text"] == "3 114,00 kr"


def test_overdue_starts_the_day_after_the_due_date_in_oslo(client, login, clock):
    # Kari's kindergarten invoice is due Friday 4 December.
    clock.at = datetime(2026, 12, 4, 22, 59, tzinfo=timezone.utc)  # 23:59 in Oslo
    on_due_date = client.get(INVOICES, headers=login(KARI)).json["invoices"][0]
    assert (on_due_date["kind"], on_due_date["overdue"]) == ("barnehage", False)

    clock.advance(minutes=2)  # 00:01 on 5 December in Oslo, still 4 December in UTC
    next_day = client.get(INVOICES, headers=login(KARI)).json["invoices"]
    assert [(i["kind"], i["overdue"]) for i in next_day] == [
        ("barnehage", True), ("kommunale avgifter", False), ("eiendomsskatt", False)]


def test_other_citizens(client, login):
    per = client.get(INVOICES, headers=login(PER)).json
    assert _kinds_of(per) == [("eiendomsskatt", "unpaid")]
    assert per["unpaid_total_text"] == "2 150,00 kr"

    nina = client.get(INVOICES, headers=login(NINA)).json
    assert nina == {"invoices": [], "unpaid_total_ore": 0, "unpaid_total_text": "0,00 kr"}


def _kinds_of(body) -> list:
    return [(i["kind"], i["status"]) for i in body["invoices"]]


def test_unknown_status_is_rejected(client, login):
    headers = login(KARI)
    for value in ("overdue", "PAID", "", "unpaid,paid"):
        response = client.get(f"{INVOICES}?status={value}", headers=headers)
        assert response.status_code == 422, value
        assert response.json["error"]["code"] == "invalid_input"
