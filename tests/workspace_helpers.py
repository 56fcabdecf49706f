"""Arranging waiting conversations over the real portal APIs, for the workspace tests."""
from __future__ import annotations

import dataclasses
import uuid

import pytest

from portal.app import create_app
from portal.staff import accounts
from tests.conftest import SERVICE_TOKEN
from tests.staff_helpers import create_staff

GATEWAY_TOKEN = "g" * 24
GATEWAY = {"Authorization": f"Bearer {GATEWAY_TOKEN}"}
SERVICE = {"Authorization": f"Bearer {SERVICE_TOKEN}"}


@pytest.fixture
def ws_app(settings, clock):
    """The portal app with a gateway token (the web chat channel's credentials)."""
    app = create_app(dataclasses.replace(settings, gateway_token=GATEWAY_TOKEN), clock)
    app.config["TESTING"] = True
    yield app
    app.extensions["portal"].engine.dispose()


def web_message(client, sender: str, text: str, *, language: str = "nb", intent=None,
                confidence=None) -> int:
    """A citizen's web chat message through the gateway API, with the bot's prediction."""
    response = client.post("/api/v1/gateway/webchat/messages", headers=GATEWAY, json={
        "sender": sender, "text": text, "message_id": uuid.uuid4().hex, "language": language})
    assert response.status_code == 201, response.get_json()
    message_id = response.get_json()["message_id"]
    response = client.post(f"/api/v1/gateway/webchat/messages/{message_id}/replies",
                           headers=GATEWAY, json={
                               "messages": [{"text": "Jeg setter deg over til en person."}],
                               "prediction": {"intent": intent, "confidence": confidence,
                                              "entities": []}})
    assert response.status_code == 200, response.get_json()
    return message_id


def waiting_webchat(client, text: str = "Jeg vil snakke med en person", **kwargs) -> str:
    """A web chat conversation that asked for a person; returns its sender key."""
    sender = "web-" + uuid.uuid4().hex[:16]
    web_message(client, sender, text, intent="human_handoff", confidence=0.93, **kwargs)
    response = client.post("/api/v1/handoffs", headers=SERVICE, json={
        "channel": "webchat", "conversation_id": sender, "reason": "citizen_request"})
    assert response.status_code == 201, response.get_json()
    return sender


def connect(client, *senders: str) -> None:
    """The web chat channel's poll for its connected browsers."""
    response = client.post("/api/v1/gateway/webchat/live", headers=GATEWAY,
                           json={"conversations": list(senders)})
    assert response.status_code == 200


def conversation_id(app, sender: str) -> int:
    from portal.conversations.service import find_conversation
    from portal.models import Channel

    with app.extensions["portal"].sessions() as db:
        return find_conversation(db, Channel.WEBCHAT, sender).id


def staff_token(app, clock, email: str, role: str = "caseworker", name: str = "Siri Berg"):
    """An enrolled staff member and a bearer header for the staff API."""
    account = create_staff(app, clock, email, role=role, name=name)
    with app.extensions["portal"].sessions() as db:
        member = accounts.find(db, email)
        token = accounts.issue_token(db, member, now=clock.now(), by=accounts.CLI)
        db.commit()
    return account, {"Authorization": f"Bearer {token}"}
