"""Simultaneous inserts of the same thing on the real PostgreSQL, through real HTTP: one row
wins and every request answers with it (never a 500, never a duplicate)."""
from __future__ import annotations

import threading

import requests
from sqlalchemy import func, select

from portal.models import Citizen, HandoffRequest, Letter, SmsNotice
from tests.conftest import DISPATCH_TOKEN, KARI, SERVICE_TOKEN
from tests.integration.test_portal_concurrency import pg_app, server_url  # noqa: F401 - fixtures

REQUESTS = 16


def _at_once(count, send):
    """Runs `send(http, i)` in `count` threads released together; returns (status, json)s."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def worker(i: int) -> None:
        with requests.Session() as http:
            barrier.wait(timeout=30)
            try:
                response = send(http, i)
                results[i] = (response.status_code, response.json())
            except Exception as exc:  # reported by the assertions
                results[i] = ("error", repr(exc))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    return results


def _letter(external_id, title="Vedtak om byggesak"):
    return {"fnr": KARI, "sender_unit": "Plan- og bygningsetaten", "title": title,
            "body": "Søknaden er innvilget.", "category": "vedtak", "external_id": external_id}


def test_one_external_id_dispatched_at_once_files_one_letter(pg_app, server_url):  # noqa: F811
    headers = {"Authorization": f"Bearer {DISPATCH_TOKEN}"}
    results = _at_once(REQUESTS, lambda http, i: http.post(
        f"{server_url}/api/v1/dispatch/letters", json=_letter("SAK-2026-77"),
        headers=headers, timeout=60))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * (REQUESTS - 1) + [201], results
    assert len({body["id"] for _, body in results}) == 1
    with pg_app.extensions["portal"].sessions() as s:
        assert s.execute(select(func.count()).select_from(Letter).where(
            Letter.external_id == "SAK-2026-77")).scalar_one() == 1


def test_one_conversation_asking_for_a_person_at_once_queues_one_request(
        pg_app, server_url):  # noqa: F811
    headers = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
    results = _at_once(REQUESTS, lambda http, i: http.post(
        f"{server_url}/api/v1/handoffs", headers=headers, timeout=60,
        json={"channel": "sms", "conversation_id": "sms-race-handoff", "reason": "citizen_request"}))
    assert sorted(status for status, _ in results) == [200] * (REQUESTS - 1) + [201], results
    assert len({body["id"] for _, body in results}) == 1
    with pg_app.extensions["portal"].sessions() as s:
        assert s.execute(select(func.count()).select_from(HandoffRequest).where(
            HandoffRequest.conversation_id == "sms-race-handoff")).scalar_one() == 1


def test_letters_arriving_at_once_share_one_pending_notice(pg_app, server_url):  # noqa: F811
    headers = {"Authorization": f"Bearer {DISPATCH_TOKEN}"}
    first = requests.post(f"{server_url}/api/v1/dispatch/letters", json=_letter("FIRST"),
                          headers=headers, timeout=60)
    assert first.status_code == 201  # its notice goes out now; the next wait for the hour
    results = _at_once(REQUESTS, lambda http, i: http.post(
        f"{server_url}/api/v1/dispatch/letters", json=_letter(f"NEXT-{i}", f"Brev {i}"),
        headers=headers, timeout=60))
    assert [status for status, _ in results] == [201] * REQUESTS, results
    portal = pg_app.extensions["portal"]
    with portal.sessions() as s:
        kari = s.execute(select(Citizen.id).where(Citizen.fnr == KARI)).scalar_one()
        pending = s.execute(select(SmsNotice).where(SmsNotice.citizen_id == kari,
                                                    SmsNotice.status == "pending")).scalars().all()
    assert len(pending) == 1
    assert sorted(pending[0].letter_ids) == sorted(body["id"] for _, body in results)
