"""The SMS-code login's first two steps over the portal API: fødselsnummer, personal code."""
from __future__ import annotations

from tests.conftest import PERSONAL_CODES

OWN = object()  # the citizen's own demo personal code (none for citizens without one)


def request_code(client, headers, fnr, conversation_id, personal_code=OWN, **extra):
    """POST /login/start then /login/code; the start's answer when it is refused."""
    started = client.post("/api/v1/login/start", headers=headers, json={
        "fnr": fnr, "channel": "rest", "conversation_id": conversation_id})
    if started.status_code != 202:
        return started
    code = PERSONAL_CODES.get(fnr) if personal_code is OWN else personal_code
    return client.post("/api/v1/login/code", headers=headers, json={
        "personal_code": code, "channel": "rest", "conversation_id": conversation_id, **extra})
