"""Inbound letters from the case/archive system, and every way a dispatch is refused."""
from __future__ import annotations

import dataclasses
import json
from datetime import datetime

import pytest
from sqlalchemy import func, select

from portal.app import create_app
from portal.models import ActorType, AuditEvent, Letter, LetterStatus
from tests.conftest import KARI, OLA, SERVICE_TOKEN, T0, UNKNOWN

DISPATCH = "/api/v1/dispatch/letters"


def _payload(**changes) -> dict:
    payload = {"fnr": KARI, "sender_unit": "Plan- og bygningsetaten",
               "title": "Vedtak i byggesak 2026/5000", "body": "Søknaden er innvilget.",
               "category": "vedtak", "external_id": "SAK-2026-5000-1"}
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not ...}


def _counts(app) -> tuple:
    with app.extensions["portal"].sessions() as s:
        return (s.execute(select(func.count()).select_from(Letter)).scalar_one(),
                s.execute(select(func.count()).select_from(AuditEvent)).scalar_one())


def _is_error(response, status: int, codes) -> None:
    assert response.status_code == status, (response.status_code, response.json)
    assert response.is_json
    error = response.json["error"]
    assert error["code"] in ((codes,) if isinstance(codes, str) else codes), error
    assert isinstance(error["message"], str) and error["message"]


def test_dispatch_files_the_letter_in_the_inbox(client, app, demo, login, dispatch_headers):
    response = client.post(DISPATCH, json=_payload(), headers=dispatch_headers)

    assert response.status_code == 201
    body = response.json
    assert isinstance(body["id"], int)
    assert body["created"] is True
    assert body["status"] == "MOTTATT"
    assert datetime.fromisoformat(body["print_due_at"]) > T0

    with app.extensions["portal"].sessions() as s:
        letter = s.get(Letter, body["id"])
        assert letter.citizen_id == demo[KARI]
        assert letter.sent_at == T0
        # Kari has a mobile and it is office hours: the SMS notice went out at once.
        assert letter.status == LetterStatus.VARSLET
        assert letter.external_id == "SAK-2026-5000-1"
        event = s.execute(select(AuditEvent).where(
            AuditEvent.action == "letter.dispatch")).scalar_one()
    assert (event.actor_type, event.actor_id, event.channel) == (
        ActorType.SYSTEM, "case-system", "dispatch")
    assert (event.citizen_id, event.object_type, event.object_id) == (
        demo[KARI], "letter", str(body["id"]))

    inbox = client.get("/api/v1/me/letters", headers=login(KARI)).json
    assert inbox["letters"][0]["id"] == body["id"]
    assert inbox["letters"][0]["title"] == "Vedtak i byggesak 2026/5000"
    assert inbox["letters"][0]["unread"] is True
    assert inbox["unread_count"] == 4
    opened = client.get(f"/api/v1/me/letters/{body['id']}", headers=login(KARI)).json
    assert opened["body"] == "Søknaden er innvilget."


def test_a_repeated_external_id_returns_the_first_letter(client, app, demo, dispatch_headers):
    notified = []
    app.extensions["portal"].notifier.subscribe(lambda letter: notified.append(letter.id))
    first = client.post(DISPATCH, json=_payload(), headers=dispatch_headers)
    assert first.status_code == 201
    counts = _counts(app)

    again = client.post(DISPATCH, json=_payload(title="Ny tittel"), headers=dispatch_headers)

    assert again.status_code == 200
    assert again.json["id"] == first.json["id"]
    assert again.json["created"] is False
    assert _counts(app) == counts
    assert notified == [first.json["id"]]  # the citizen is notified once
    with app.extensions["portal"].sessions() as s:
        assert s.get(Letter, first.json["id"]).title == "Vedtak i byggesak 2026/5000"


def test_an_external_id_is_scoped_to_its_sender(client, demo, dispatch_headers):
    first = client.post(DISPATCH, json=_payload(), headers=dispatch_headers)
    other = client.post(DISPATCH, json=_payload(sender_unit="Etat for barnehage",
                                                category="barnehage"),
                        headers=dispatch_headers)
    assert (first.status_code, other.status_code) == (201, 201)
    assert other.json["id"] != first.json["id"]


def test_letters_without_external_id_are_never_merged(client, demo, dispatch_headers):
    ids = {client.post(DISPATCH, json=_payload(external_id=...), headers=dispatch_headers)
           .json["id"] for _ in range(2)}
    assert len(ids) == 2


def test_the_same_external_id_for_another_citizen_is_a_conflict(
        client, app, demo, dispatch_headers):
    assert client.post(DISPATCH, json=_payload(), headers=dispatch_headers).status_code == 201
    counts = _counts(app)

    response = client.post(DISPATCH, json=_payload(fnr=OLA), headers=dispatch_headers)

    _is_error(response, 409, "external_id_conflict")
    assert _counts(app) == counts


def test_a_failing_listener_does_not_fail_the_dispatch(client, app, demo, dispatch_headers):
    def broken(_letter):
        raise RuntimeError("SMS gateway down")

    app.extensions["portal"].notifier.subscribe(broken)
    response = client.post(DISPATCH, json=_payload(), headers=dispatch_headers)

    assert response.status_code == 201
    with app.extensions["portal"].sessions() as s:
        assert s.get(Letter, response.json["id"]) is not None


BAD_FNR = KARI[:-1] + str((int(KARI[-1]) + 1) % 10)

REJECTED_PAYLOADS = [
    # (description, payload, status, accepted error codes)
    ("unknown citizen", _payload(fnr=UNKNOWN), 404, "citizen_not_found"),
    ("bad control digit", _payload(fnr=BAD_FNR), 422, "invalid_fnr"),
    ("ten digits", _payload(fnr=KARI[:10]), 422, ("invalid_fnr", "invalid_input")),
    ("twelve digits", _payload(fnr=KARI + "0"), 422, ("invalid_fnr", "invalid_input")),
    ("letters", _payload(fnr="abcdefghijk"), 422, ("invalid_fnr", "invalid_input")),
    ("superscript digit", _payload(fnr="²" + KARI[1:]), 422, "invalid_fnr"),
    ("Arabic-Indic digits", _payload(fnr="١٤٨٣٨٥٤٢٠٣٥"), 422, "invalid_fnr"),
    ("impossible date", _payload(fnr="31029012302"), 422, "invalid_fnr"),
    ("number", _payload(fnr=int(KARI)), 422, ("invalid_fnr", "invalid_input")),
    ("null", _payload(fnr=None), 422, ("invalid_fnr", "invalid_input")),
    ("list", _payload(fnr=[KARI]), 422, ("invalid_fnr", "invalid_input")),
    ("object", _payload(fnr={"fnr": KARI}), 422, ("invalid_fnr", "invalid_input")),
    ("boolean", _payload(fnr=True), 422, ("invalid_fnr", "invalid_input")),
    ("missing fnr", _payload(fnr=...), 422, "invalid_input"),
    ("unknown category", _payload(category="faktura"), 422, "invalid_input"),
    ("category in capitals", _payload(category="VEDTAK"), 422, "invalid_input"),
    ("missing title", _payload(title=...), 422, "invalid_input"),
    ("empty body", _payload(body=""), 422, "invalid_input"),
    ("title too long", _payload(title="x" * 301), 422, "invalid_input"),
    ("body too long", _payload(body="x" * 20001), 422, "invalid_input"),
    ("external id too long", _payload(external_id="x" * 101), 422, "invalid_input"),
    ("unknown field", _payload(priority="high"), 422, "invalid_input"),
    ("NUL in title", _payload(title="Vedtak\x00"), 422, "invalid_input"),
    ("NUL in body", _payload(body="a\x00b"), 422, "invalid_input"),
    ("NUL in sender", _payload(sender_unit="Byggesak\x00"), 422, "invalid_input"),
    ("NUL in external id", _payload(external_id="SAK\x001"), 422, "invalid_input"),
    ("array", [_payload()], 422, "invalid_input"),
    ("string", "hello", 422, "invalid_input"),
]


def test_rejected_dispatches_change_nothing(client, app, demo, dispatch_headers):
    before = _counts(app)
    for description, payload, status, codes in REJECTED_PAYLOADS:
        response = client.post(DISPATCH, json=payload, headers=dispatch_headers)
        _is_error(response, status, codes)
        assert _counts(app) == before, description


def test_rejected_raw_bodies_change_nothing(client, app, demo, dispatch_headers):
    before = _counts(app)
    oversize = json.dumps(_payload(body="x" * (65 * 1024)))
    cases = [
        ("oversize", oversize, "application/json", 413, "request_entity_too_large"),
        ("oversize, even if invalid", "{" * (70 * 1024), "application/json", 413,
         "request_entity_too_large"),
        ("malformed JSON", '{"fnr": "14838542035",', "application/json", 400, "malformed_json"),
        ("not JSON at all", "fnr=14838542035", "application/json", 400, "malformed_json"),
        ("empty", "", "application/json", 422, "invalid_input"),
        ("form encoded", "fnr=14838542035", "application/x-www-form-urlencoded", 422,
         "invalid_input"),
    ]
    for description, data, content_type, status, codes in cases:
        response = client.post(DISPATCH, data=data, headers={
            **dispatch_headers, "Content-Type": content_type})
        _is_error(response, status, codes)
        assert _counts(app) == before, description


def test_dispatch_needs_the_dispatch_token(client, app, demo, service_headers):
    before = _counts(app)
    for headers in ({}, service_headers, {"Authorization": "Bearer wrong-token"},
                    {"Authorization": "Bearer "}, {"Authorization": "Basic dGVzdA=="},
                    {"Authorization": f"Token {SERVICE_TOKEN}"}):
        response = client.post(DISPATCH, json=_payload(), headers=headers)
        _is_error(response, 401, "invalid_token")
    assert _counts(app) == before


def test_synthetic_numbers_are_refused_when_not_allowed(settings, clock, demo,
                                                        dispatch_headers):
    strict = create_app(dataclasses.replace(settings, allow_synthetic_fnr=False), clock)
    try:
        before = _counts(strict)
        response = strict.test_client().post(DISPATCH, json=_payload(),
                                             headers=dispatch_headers)
        _is_error(response, 422, "invalid_fnr")
        assert _counts(strict) == before
    finally:
        strict.extensions["portal"].engine.dispose()
