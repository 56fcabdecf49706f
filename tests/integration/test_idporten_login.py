"""ID-porten login for the web chat, over real HTTP against the local provider stand-in."""
from __future__ import annotations

import contextlib
import dataclasses
import secrets
import threading
import time
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from joserfc.jwk import RSAKey
from sqlalchemy import select
from werkzeug.serving import make_server

from portal import webchat_tickets
from portal.app import create_app
from portal.conversations import service as conversations
from portal.idporten import service as idporten_service
from portal.models import AuditEvent, Channel, CitizenSession
from tests.conftest import KARI, REDIS_URL
from tests.idporten_standin import IdPortenStandIn
from tests.stack import free_port

WEBCHAT_SECRET = "w" * 32
CHAT_URL = "http://127.0.0.1:5999/webhooks/webchat/"


@pytest.fixture
def idp():
    with IdPortenStandIn(client_id="kommune-chat", client_secret="idp-client-secret") as standin:
        yield standin


@contextlib.contextmanager
def serving(settings, clock, idp, **client):
    """The portal with ID-porten configured (`client`: how it authenticates), served over
    real HTTP on its public URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    configured = dataclasses.replace(
        settings, portal_public_url=url, redis_url=REDIS_URL, idporten_issuer=idp.issuer,
        idporten_client_id=idp.client_id, webchat_secret=WEBCHAT_SECRET, webchat_url=CHAT_URL,
        **client)
    idp.redirect_uris.append(f"{url}/idporten/callback")
    idporten_service._discovery.clear()
    app = create_app(configured, clock)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()
        app.extensions["portal"].engine.dispose()


@pytest.fixture
def portal_url(settings, clock, idp, demo):
    with serving(settings, clock, idp, idporten_client_secret=idp.client_secret) as url:
        yield url


def new_conversation() -> tuple[str, str]:
    conversation_id = "web-" + secrets.token_urlsafe(18)
    return conversation_id, webchat_tickets.ticket(WEBCHAT_SECRET.encode(), conversation_id)


def start(portal_url: str, ticket: str, lang: str = "nb") -> str:
    """Follows /idporten/login to the provider; returns the callback URL it sends back."""
    begun = requests.get(f"{portal_url}/idporten/login", params={"ticket": ticket, "lang": lang},
                         allow_redirects=False, timeout=10)
    assert begun.status_code == 303, begun.text
    authorized = requests.get(begun.headers["Location"], allow_redirects=False, timeout=10)
    assert authorized.status_code == 302, authorized.text
    return authorized.headers["Location"]


def sessions_of(db, conversation_id: str):
    db.expire_all()
    return db.execute(select(CitizenSession).where(
        CitizenSession.conversation_id == conversation_id)).scalars().all()


def test_login_opens_a_session_bound_to_the_web_chat_conversation(portal_url, idp, db):
    idp.person = KARI
    conversation_id, ticket = new_conversation()
    begun = requests.get(f"{portal_url}/idporten/login", params={"ticket": ticket},
                         allow_redirects=False, timeout=10)
    asked = parse_qs(urlparse(begun.headers["Location"]).query)
    assert asked["acr_values"] == ["idporten-loa-substantial"]
    assert asked["code_challenge_method"] == ["S256"] and asked["code_challenge"][0]
    assert asked["nonce"][0] and asked["state"][0] and asked["scope"] == ["openid profile"]

    callback = requests.get(begun.headers["Location"], allow_redirects=False,
                            timeout=10).headers["Location"]
    done = requests.get(callback, allow_redirects=False, timeout=10)
    assert done.status_code == 303 and done.headers["Location"] == CHAT_URL

    [session] = sessions_of(db, conversation_id)
    assert session.channel == Channel.WEBCHAT and session.ended_at is None
    conversation = conversations.find_conversation(db, Channel.WEBCHAT, conversation_id)
    assert conversation.citizen_id == session.citizen_id
    [shown] = conversations.undelivered_live(db, [conversation_id])
    assert shown.text.startswith("Du er logget inn med ID-porten, Kari.")
    success = db.execute(select(AuditEvent).where(AuditEvent.action == "login.success")
                         .order_by(AuditEvent.id.desc())).scalars().first()
    assert success.citizen_id == session.citizen_id
    assert success.detail["method"] == "idporten"
    assert success.detail["acr"] == "idporten-loa-substantial"


def test_an_id_porten_login_asks_no_personal_code_and_reopens_a_closed_sms_login(
        portal_url, idp, db, settings):
    """ID-porten is two-factor already: no personal code; and after 100 failed guesses it is
    the other way in that opens the SMS-code login again."""
    from portal.kv import RedisStore
    from portal.services import login

    store = RedisStore(REDIS_URL)
    account = login._digest(settings, "fnr", KARI)
    store.set(f"otp:failures:{account}", "100", 3600)
    store.set(f"otp:lock:{account}", "1", 3600)
    idp.person = KARI
    conversation_id, ticket = new_conversation()
    done = requests.get(start(portal_url, ticket), allow_redirects=False, timeout=10)
    assert done.status_code == 303 and len(sessions_of(db, conversation_id)) == 1
    assert store.get(f"otp:failures:{account}") is None
    assert store.get(f"otp:lock:{account}") is None


@pytest.mark.parametrize("claims, message", [
    ({"nonce": "not-the-nonce-we-sent"}, "Vi kunne ikke bekrefte innloggingen"),
    ({"aud": "another-client"}, "Vi kunne ikke bekrefte innloggingen"),
    ({"iat": int(time.time()) - 3600, "exp": int(time.time()) - 1800},
     "Vi kunne ikke bekrefte innloggingen"),
    ({"acr": "idporten-loa-low"}, "for lavt sikkerhetsnivå"),
    ({"iss": "https://evil.example"}, "Vi kunne ikke bekrefte innloggingen"),
    ({"pid": "12345678901"}, "Vi kunne ikke bekrefte innloggingen"),
], ids=["wrong-nonce", "wrong-audience", "expired", "acr-too-low", "wrong-issuer", "bad-pid"])
def test_a_bad_id_token_is_refused_clearly_and_opens_no_session(portal_url, idp, db, claims,
                                                                message):
    conversation_id, ticket = new_conversation()
    callback = start(portal_url, ticket)
    idp.next_claims = claims
    refused = requests.get(callback, allow_redirects=False, timeout=10)
    assert refused.status_code == 400
    assert message in refused.text and CHAT_URL in refused.text
    assert sessions_of(db, conversation_id) == []
    assert conversations.find_conversation(db, Channel.WEBCHAT, conversation_id) is None


def test_a_token_signed_with_another_key_is_refused(portal_url, idp, db):
    conversation_id, ticket = new_conversation()
    callback = start(portal_url, ticket)
    idp.sign_with_other_key = True
    refused = requests.get(callback, allow_redirects=False, timeout=10)
    assert refused.status_code == 400 and "Du er ikke logget inn" in refused.text
    assert sessions_of(db, conversation_id) == []


def test_a_replayed_code_is_refused(portal_url, idp, db):
    idp.person = KARI
    conversation_id, ticket = new_conversation()
    callback = start(portal_url, ticket)
    assert requests.get(callback, allow_redirects=False, timeout=10).status_code == 303
    # The same callback again: its state was used up.
    again = requests.get(callback, allow_redirects=False, timeout=10)
    assert again.status_code == 400 and "allerede brukt" in again.text
    # The used code under a fresh login's state: the provider refuses it.
    other_id, other_ticket = new_conversation()
    fresh = parse_qs(urlparse(start(portal_url, other_ticket)).query)
    old_code = parse_qs(urlparse(callback).query)["code"][0]
    replayed = requests.get(f"{portal_url}/idporten/callback",
                            params={"code": old_code, "state": fresh["state"][0]},
                            allow_redirects=False, timeout=10)
    assert replayed.status_code == 400 and "Du er ikke logget inn" in replayed.text
    assert "code unknown, used or expired" in idp.refusals
    assert len(sessions_of(db, conversation_id)) == 1
    assert sessions_of(db, other_id) == []


@pytest.mark.parametrize("ticket", ["", "web-abc", "web-abc.deadbeef", "sms-x." + "0" * 64])
def test_a_forged_ticket_starts_no_login(portal_url, idp, ticket):
    response = requests.get(f"{portal_url}/idporten/login", params={"ticket": ticket,
                                                                    "lang": "en"},
                            allow_redirects=False, timeout=10)
    assert response.status_code == 400
    assert "The login link is invalid" in response.text
    assert idp.codes == {}


def test_an_unknown_person_gets_no_session(portal_url, idp, db):
    idp.person = "01019010046"  # a valid fødselsnummer no demo citizen has
    conversation_id, ticket = new_conversation()
    refused = requests.get(start(portal_url, ticket, lang="nn"), allow_redirects=False,
                           timeout=10)
    assert refused.status_code == 400 and "Vi finn deg ikkje" in refused.text
    assert sessions_of(db, conversation_id) == []


@pytest.mark.parametrize("query", [{}, {"state": "x" * 40, "code": "abc"},
                                   {"error": "access_denied", "state": "x" * 40},
                                   {"code": ["a", "b"]}])
def test_a_callback_without_a_login_changes_nothing(portal_url, db, query):
    before = len(db.execute(select(CitizenSession)).scalars().all())
    db.rollback()  # no read transaction open while the portal writes (SQLite)
    response = requests.get(f"{portal_url}/idporten/callback", params=query,
                            allow_redirects=False, timeout=10)
    assert response.status_code == 400 and "<p role=\"alert\">" in response.text
    db.expire_all()
    assert len(db.execute(select(CitizenSession)).scalars().all()) == before


def test_the_login_is_off_without_configuration(client):
    response = client.get("/idporten/login?ticket=web-a.b")
    assert response.status_code == 404
    assert "ikke slått på" in response.get_data(as_text=True)


def test_private_key_jwt_logs_in(
        settings, clock, demo, db, tmp_path):
    """What ID-porten recommends: the client signs an assertion with its private key (kid
    registered, aud = the issuer); the provider checks it against the public key."""
    registered = RSAKey.generate_key(2048, parameters={"kid": "kommune-chat-1"}, private=True)
    key_file = tmp_path / "idporten-client.pem"
    key_file.write_bytes(registered.as_pem(private=True))
    public = RSAKey.import_key(registered.as_dict(private=False))
    with IdPortenStandIn(client_id="kommune-chat", client_secret="unused",
                         client_key=public) as idp:
        idp.person = KARI
        client = {"idporten_client_key_file": str(key_file),
                  "idporten_client_key_id": "kommune-chat-1"}
        with serving(settings, clock, idp, **client) as url:
            conversation_id, ticket = new_conversation()
            done = requests.get(start(url, ticket), allow_redirects=False, timeout=10)
            assert done.status_code == 303 and done.headers["Location"] == CHAT_URL
            assert idp.client_auth == ["private_key_jwt"] and idp.refusals == []
            assert len(sessions_of(db, conversation_id)) == 1

