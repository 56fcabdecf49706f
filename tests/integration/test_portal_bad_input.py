"""Bad requests never give a 500: each gets a JSON error body with a code and a message."""
from __future__ import annotations

from sqlalchemy import func, select

from portal.models import AuditEvent, KindergartenOffer, Letter
from tests.conftest import KARI

HUGE = "9" * 20          # more than any database integer
BIG = str(2 ** 63)       # one past the largest 64-bit integer
INT32_PAST = str(2 ** 31)

# (method, path, json body or None, which headers, expected status)
BAD_REQUESTS = [
    # Ids that are not (reasonable) integers.
    ("GET", "/api/v1/me/letters/abc", None, "citizen", 404),
    ("GET", "/api/v1/me/letters/1.5", None, "citizen", 404),
    ("GET", "/api/v1/me/letters/-1", None, "citizen", 404),
    ("GET", "/api/v1/me/letters/0", None, "citizen", 404),
    ("GET", f"/api/v1/me/letters/{INT32_PAST}", None, "citizen", 404),
    ("GET", f"/api/v1/me/letters/{BIG}", None, "citizen", 404),
    ("GET", f"/api/v1/me/letters/{HUGE}", None, "citizen", 404),
    ("GET", "/api/v1/me/letters/%00", None, "citizen", 404),
    ("POST", "/api/v1/me/offers/abc/answer", {"answer": "accept"}, "citizen", 404),
    ("POST", f"/api/v1/me/offers/{BIG}/answer", {"answer": "accept"}, "citizen", 404),
    ("POST", f"/api/v1/me/offers/{HUGE}/answer", {"answer": "accept"}, "citizen", 404),
    # Unknown or malformed query values.
    ("GET", "/api/v1/me/letters?unread=maybe", None, "citizen", 422),
    ("GET", "/api/v1/me/letters?limit=abc", None, "citizen", 422),
    ("GET", "/api/v1/me/letters?limit=0", None, "citizen", 422),
    ("GET", "/api/v1/me/letters?limit=101", None, "citizen", 422),
    ("GET", f"/api/v1/me/letters?limit={HUGE}", None, "citizen", 422),
    ("GET", "/api/v1/me/letters?limit=-5", None, "citizen", 422),
    ("GET", "/api/v1/me/offers?open=perhaps", None, "citizen", 422),
    ("GET", "/api/v1/me/invoices?status=overdue", None, "citizen", 422),
    ("GET", "/api/v1/me/invoices?status=%00", None, "citizen", 422),
    # Wrong JSON types.
    ("POST", "/api/v1/me/offers/{offer}/answer", {"answer": 1}, "citizen", 422),
    ("POST", "/api/v1/me/offers/{offer}/answer", {"answer": {"value": "accept"}}, "citizen",
     422),
    ("POST", "/api/v1/me/offers/{offer}/answer", ["accept"], "citizen", 422),
    ("POST", "/api/v1/me/offers/{offer}/answer", None, "citizen", 422),
    ("POST", "/api/v1/me/offers/{offer}/answer", {"answer": "accept\x00"}, "citizen", 422),
    ("POST", "/api/v1/dispatch/letters", {"fnr": 14838542035}, "dispatch", 422),
    ("POST", "/api/v1/dispatch/letters",
     {"fnr": KARI, "sender_unit": ["x"], "title": 1, "body": None, "category": 2},
     "dispatch", 422),
    # Wrong methods.
    ("DELETE", "/api/v1/me/letters", None, "citizen", 405),
    ("PUT", "/api/v1/me/letters/{letter}", {"read": True}, "citizen", 405),
    ("GET", "/api/v1/me/offers/{offer}/answer", None, "citizen", 405),
    ("PATCH", "/api/v1/me/invoices", None, "citizen", 405),
    ("GET", "/api/v1/dispatch/letters", None, "dispatch", 405),
    ("PUT", "/api/v1/dispatch/letters", None, "dispatch", 405),
    ("POST", "/health", None, None, 405),
    ("DELETE", "/api/v1/reports/savings", None, "service", 405),
    # Unknown routes.
    ("GET", "/api/v1/nothing-here", None, None, 404),
    ("GET", "/api/v2/me/letters", None, "citizen", 404),
    ("GET", "/api/v1/me/letters/1/attachments", None, "citizen", 404),
    ("POST", "/api/v1/me/offers/1/withdraw", None, "citizen", 404),
    ("GET", "/", None, None, 404),
]


def _counts(app) -> tuple:
    with app.extensions["portal"].sessions() as s:
        return tuple(s.execute(select(func.count()).select_from(model)).scalar_one()
                     for model in (Letter, AuditEvent))


def test_bad_requests_get_json_errors(client, app, demo, login, service_headers,
                                      dispatch_headers):
    headers = {"citizen": login(KARI), "service": service_headers,
               "dispatch": dispatch_headers, None: {}}
    with app.extensions["portal"].sessions() as s:
        letter = s.execute(select(func.min(Letter.id)).where(
            Letter.citizen_id == demo[KARI])).scalar_one()
        offer = s.execute(select(KindergartenOffer.id).where(
            KindergartenOffer.citizen_id == demo[KARI])).scalar_one()
    before = _counts(app)

    for method, path, body, who, status in BAD_REQUESTS:
        path = path.format(letter=letter, offer=offer)
        kwargs = {} if body is None else {"json": body}
        response = client.open(path, method=method, headers=headers[who], **kwargs)

        case = f"{method} {path!r}"
        assert response.status_code == status, (case, response.status_code, response.data)
        assert response.is_json, case
        error = response.json["error"]
        assert isinstance(error["code"], str) and error["code"], case
        assert isinstance(error["message"], str) and error["message"], case

    # Nothing was read or changed on the way: only the session's own start was audited.
    assert _counts(app) == before


def test_error_codes_are_stable(client, login, demo):
    headers = login(KARI)
    assert client.get("/api/v1/nope").json["error"]["code"] == "not_found"
    assert client.delete("/api/v1/me/letters", headers=headers).json["error"]["code"] == \
        "method_not_allowed"
    assert client.get("/api/v1/me/letters?limit=x", headers=headers).json["error"]["code"] == \
        "invalid_input"
    details = client.get("/api/v1/me/letters?limit=x", headers=headers).json["error"]["details"]
    assert "limit" in details["fields"]["query"]


# Raw bodies that Python's JSON parser accepts or chokes on, but the portal must refuse with a
# 400 before anything reads them: they used to give 500s (hostile-input run against `make up`).
HOSTILE_BODIES = [
    ("lone surrogate", b'{"fnr": "14838542035", "channel": "sms", "conversation_id": "\\ud800"}'),
    ("lone surrogate key", b'{"\\udfff": 1, "fnr": "14838542035"}'),
    ("deep nesting", b'{"fnr": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"),
    ("nested past the limit", b'{"fnr": ' + b"[" * 30 + b"]" * 30 + b"}"),
    ("huge integer", b'{"fnr": 1' + b"0" * 5000 + b"}"),
    ("integer past 64 bits", b'{"fnr": 18446744073709551616}'),
    ("NaN", b'{"fnr": NaN}'),
    ("Infinity", b'{"fnr": 1e999}'),
    ("not UTF-8", b'{"fnr": "\xff\xfe"}'),
    ("truncated", b'{"fnr": "1483'),
]
HOSTILE_TARGETS = [("/api/v1/login/code", "service"), ("/api/v1/login/verify", "service"),
                   ("/api/v1/dispatch/letters", "dispatch"),
                   ("/api/v1/me/offers/1/answer", "citizen"), ("/api/v1/handoffs", "service")]


def test_hostile_json_bodies_get_400(client, app, demo, login, service_headers,
                                     dispatch_headers):
    headers = {"citizen": login(KARI), "service": service_headers, "dispatch": dispatch_headers}
    before = _counts(app)
    for path, who in HOSTILE_TARGETS:
        for name, body in HOSTILE_BODIES:
            response = client.post(path, data=body, headers={
                **headers[who], "Content-Type": "application/json"})
            case = f"{name} to {path}"
            assert response.status_code == 400, (case, response.status_code, response.data)
            assert response.json["error"]["code"] == "malformed_json", case
            assert response.json["error"]["message"], case
    assert _counts(app) == before
    assert client.get("/health").status_code == 200
