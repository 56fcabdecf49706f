"""The ID-porten login flow: start (authorize URL with PKCE, state, nonce) and finish.

What one login needs between the two legs (the conversation, nonce, PKCE verifier and the
citizen's language) lives in the key-value store under a random `state`, for ten minutes,
and is taken exactly once. The id_token is checked here: RS256 signature against the
provider's JWKS, issuer, audience, expiry, nonce and level of assurance (acr); the
fødselsnummer comes from the `pid` claim. A passing login opens a session bound to the web
chat conversation exactly like an SMS-code login (portal/services/sessions.py).
"""
from __future__ import annotations

import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import webchat_tickets
from portal.config import Settings
from portal.errors import InvalidInput
from portal.identity import normalize_fnr
from portal.kv import KeyValueStore
from portal.models import ActorType, Channel, Citizen
from portal.services.audit import Actor, record
from portal.services import login
from portal.services.sessions import start_session

log = logging.getLogger(__name__)

STATE_TTL = 10 * 60
HTTP_TIMEOUT = 10
LEEWAY_SECONDS = 30
# ID-porten's levels of assurance, lowest first (acr_values / the `acr` claim).
LEVELS = ("idporten-loa-low", "idporten-loa-substantial", "idporten-loa-high")
DISCOVERY_TTL = 3600
ASSERTION_SECONDS = 60  # a client assertion's life; ID-porten takes at most 120 s


class LoginRefused(Exception):
    """The login cannot finish; `reason` names the citizen's text (portal/idporten/texts.py)."""

    def __init__(self, reason: str, detail: str = "", language: str = "nb"):
        super().__init__(detail or reason)
        self.reason, self.language = reason, language


@dataclass(frozen=True)
class Finished:
    citizen: Citizen
    conversation_id: str
    language: str
    acr: str


_discovery: dict = {}


def provider(settings: Settings) -> dict:
    """The provider's discovery document, kept for an hour."""
    cached = _discovery.get(settings.idporten_issuer)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    try:
        response = requests.get(f"{settings.idporten_issuer}/.well-known/openid-configuration",
                                timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise LoginRefused("unavailable", f"discovery failed: {exc}") from exc
    if document.get("issuer", "").rstrip("/") != settings.idporten_issuer:
        raise LoginRefused("unavailable", "discovery names another issuer")
    _discovery[settings.idporten_issuer] = (time.monotonic() + DISCOVERY_TTL, document)
    return document


def redirect_uri(settings: Settings) -> str:
    return f"{settings.portal_public_url}/idporten/callback"


class IdPortenAssertion(PrivateKeyJWT):
    """private_key_jwt as ID-porten takes it: aud is the issuer, the registered kid in the
    header, a fresh jti, valid ASSERTION_SECONDS."""

    def sign(self, auth, token_endpoint):
        return private_key_jwt_sign(RSAKey.import_key(auth.client_secret),
                                    client_id=auth.client_id, token_endpoint=token_endpoint,
                                    header=dict(self.headers or {}), alg=self.alg,
                                    expires_in=ASSERTION_SECONDS)


def _client(settings: Settings) -> OAuth2Session:
    """The OpenID client: private_key_jwt when a key file is configured (aud is the issuer,
    as ID-porten requires, with the registered kid), else client_secret_basic."""
    common = {"scope": "openid profile", "redirect_uri": redirect_uri(settings),
              "code_challenge_method": "S256"}
    if not settings.idporten_client_key_file:
        return OAuth2Session(settings.idporten_client_id, settings.idporten_client_secret,
                             token_endpoint_auth_method="client_secret_basic", **common)
    method = IdPortenAssertion(token_endpoint=settings.idporten_issuer,
                           headers={"kid": settings.idporten_client_key_id} if
                           settings.idporten_client_key_id else None)
    return OAuth2Session(settings.idporten_client_id, _private_key(settings),
                         token_endpoint_auth_method=method, **common)


def _private_key(settings: Settings) -> str:
    try:
        with open(settings.idporten_client_key_file, encoding="ascii") as file:
            return file.read()
    except OSError as exc:
        raise LoginRefused("unavailable", f"the client key cannot be read: {exc}") from exc


def _state_key(state: str) -> str:
    return f"idporten:state:{state}"


def begin(store: KeyValueStore, settings: Settings, ticket: object, language: str) -> str:
    """The authorize URL for the web chat conversation the ticket names."""
    conversation_id = webchat_tickets.conversation_of_ticket(settings.webchat_secret.encode(),
                                                             ticket)
    if conversation_id is None:
        raise LoginRefused("invalid_ticket")
    document = provider(settings)
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    url, _ = _client(settings).create_authorization_url(
        document["authorization_endpoint"], state=state, nonce=nonce, code_verifier=verifier,
        acr_values=settings.idporten_loa, ui_locales=language)
    store.set(_state_key(state), json.dumps({
        "conversation_id": conversation_id, "nonce": nonce, "verifier": verifier,
        "language": language}), STATE_TTL)
    return url


def take_state(store: KeyValueStore, state: object) -> Optional[dict]:
    """What `begin` kept for this state, once: a second use finds nothing."""
    if not isinstance(state, str) or not 16 <= len(state) <= 128:
        return None
    raw = store.get(_state_key(state))
    if raw is None or not store.delete(_state_key(state)):
        return None
    return json.loads(raw)


def _keys(document: dict) -> KeySet:
    try:
        response = requests.get(document["jwks_uri"], timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        return KeySet.import_key_set(response.json())
    except (requests.RequestException, ValueError, KeyError, JoseError) as exc:
        raise LoginRefused("unavailable", f"JWKS not read: {exc}") from exc


def _high_enough(acr: object, wanted: str) -> bool:
    return acr in LEVELS and LEVELS.index(acr) >= LEVELS.index(wanted)


def check_id_token(settings: Settings, document: dict, id_token: str, nonce: str) -> dict:
    """The id_token's claims, if signature, issuer, audience, expiry, nonce and acr hold."""
    try:
        token = jwt.decode(id_token, _keys(document), algorithms=["RS256"])
        jwt.JWTClaimsRegistry(
            leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": settings.idporten_issuer},
            aud={"essential": True, "value": settings.idporten_client_id},
            exp={"essential": True}, iat={"essential": True},
            nonce={"essential": True, "value": nonce},
            pid={"essential": True},
        ).validate(token.claims)
    except (JoseError, ValueError) as exc:
        raise LoginRefused("refused", f"id_token refused: {type(exc).__name__}: {exc}") from exc
    claims = token.claims
    if isinstance(claims.get("aud"), list) and claims.get("azp", settings.idporten_client_id) \
            != settings.idporten_client_id:
        raise LoginRefused("refused", "id_token authorised for another party")
    if not _high_enough(claims.get("acr"), settings.idporten_loa):
        raise LoginRefused("too_low", f"acr {claims.get('acr')!r} below {settings.idporten_loa}")
    return claims


def finish(db: Session, store: KeyValueStore, settings: Settings, *, code: object,
           state: object, now: datetime) -> Finished:
    """Exchanges the code, checks the id_token and opens the web chat session."""
    kept = take_state(store, state)
    if kept is None:
        raise LoginRefused("invalid_state")
    try:
        done = _finish(db, settings, kept, code, now)
    except LoginRefused as refused:
        refused.language = kept["language"]
        raise
    # A two-factor login of its own: it reopens an SMS-code login closed by failed guesses.
    login.clear_failures(store, login._digest(settings, "fnr", done.citizen.fnr))
    return done


def _finish(db: Session, settings: Settings, kept: dict, code: object,
            now: datetime) -> Finished:
    language = kept["language"]
    if not isinstance(code, str) or not code or len(code) > 512:
        raise LoginRefused("refused", "no code")
    document = provider(settings)
    try:
        tokens = _client(settings).fetch_token(
            document["token_endpoint"], grant_type="authorization_code", code=code,
            code_verifier=kept["verifier"], timeout=HTTP_TIMEOUT)
    except OAuthError as exc:  # invalid_grant: a used, expired or foreign code
        raise LoginRefused("refused", f"token endpoint refused: {exc.error}") from exc
    except (requests.RequestException, ValueError) as exc:
        raise LoginRefused("unavailable", f"token endpoint failed: {exc}") from exc
    id_token = tokens.get("id_token")
    if not isinstance(id_token, str):
        raise LoginRefused("refused", "no id_token")
    claims = check_id_token(settings, document, id_token, kept["nonce"])
    try:
        fnr = normalize_fnr(claims["pid"], allow_synthetic=settings.allow_synthetic_fnr)
    except InvalidInput as exc:
        raise LoginRefused("refused", "pid is no fødselsnummer") from exc
    citizen = db.execute(select(Citizen).where(Citizen.fnr == fnr)).scalar_one_or_none()
    if citizen is None:
        raise LoginRefused("unknown_citizen")
    conversation_id = kept["conversation_id"]
    start_session(db, citizen, channel=Channel.WEBCHAT, conversation_id=conversation_id,
                  now=now, idle_minutes=settings.session_idle_minutes)
    record(db, Actor.citizen(citizen.id, Channel.WEBCHAT.value), "login.success", at=now,
           citizen_id=citizen.id, detail={"method": "idporten", "acr": claims["acr"]})
    return Finished(citizen, conversation_id, language, claims["acr"])


def refuse_audit(db: Session, reason: str, now: datetime) -> None:
    """One audit row for a refused ID-porten login (no citizen is known then)."""
    record(db, Actor(ActorType.SYSTEM, "idporten", Channel.WEBCHAT.value), "login.failed",
           at=now, detail={"method": "idporten", "reason": reason})
    db.commit()
