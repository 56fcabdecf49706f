"""A local ID-porten stand-in: the OpenID Connect provider endpoints ID-porten documents.

    with IdPortenStandIn(client_id="c", client_secret="s",
                         redirect_uri="http://127.0.0.1:8000/idporten/callback") as idp:
        idp.person = "13097248022"          # who logs in at the next /authorize
        idp.next_claims = {"acr": "idporten-loa-low"}   # changes the next id_token
        ...IDPORTEN_ISSUER=idp.issuer...

Serves discovery (/.well-known/openid-configuration), /authorize (authorization code flow;
requires PKCE S256, state, nonce and the registered redirect URI, and logs `person` in at
once), /token (client_secret_basic or post, or private_key_jwt when `client_key` holds the
client's registered public key: an RS256 client assertion with iss = sub = the client id,
aud = the issuer, a kid, exp and a jti used once; each code once, its verifier checked) and
/jwks, with an
RS256-signed id_token carrying pid, acr, amr, nonce, aud, iss, iat and exp. What it refused
is kept in `refusals`. Run `python -m tests.idporten_standin --port 8090` to keep one up.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import secrets
import threading
import time
from typing import Dict, List, Optional
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
LEVELS = ("idporten-loa-low", "idporten-loa-substantial", "idporten-loa-high")
CODE_TTL = 60


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class IdPortenStandIn:
    def __init__(self, client_id: str = "standin-client", client_secret: str = "standin-secret",
                 redirect_uri: Optional[str] = None, port: int = 0,
                 client_key: Optional[RSAKey] = None):
        self.client_id, self.client_secret = client_id, client_secret
        self.client_key = client_key  # the public key registered for private_key_jwt
        self.assertions_seen: set = set()  # jti of client assertions: each works once
        self.client_auth: List[str] = []  # how each token request authenticated
        self.redirect_uris: List[str] = [redirect_uri] if redirect_uri else []
        self.person = "13097248022"
        self.next_claims: Dict = {}
        self.sign_with_other_key = False
        self.refusals: List[str] = []
        self.issued: List[dict] = []  # the claims of every id_token issued
        self.codes: Dict[str, dict] = {}
        self.key = RSAKey.generate_key(2048, parameters={"kid": "standin-1", "use": "sig",
                                                         "alg": "RS256"})
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": "standin-1"})
        self.lock = threading.Lock()
        self.server = make_server("127.0.0.1", port, self.wsgi, threaded=True)
        self.issuer = f"http://127.0.0.1:{self.server.server_port}"
        self.thread: Optional[threading.Thread] = None

    def __enter__(self) -> "IdPortenStandIn":
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- endpoints -----------------------------------------------------------------------

    def discovery(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "end_session_endpoint": f"{self.issuer}/endsession",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "form_post"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile"],
            "acr_values_supported": list(LEVELS[1:]),
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                      "client_secret_post", "private_key_jwt"],
            "ui_locales_supported": ["nb", "nn", "en", "se"],
            "authorization_response_iss_parameter_supported": True,
        }

    def _refuse(self, why: str, status: int = 400, error: str = "invalid_request") -> Response:
        self.refusals.append(why)
        return Response(f'{{"error": "{error}", "error_description": "{why}"}}', status=status,
                        content_type="application/json")

    def authorize(self, request: Request) -> Response:
        args = request.args
        if args.get("client_id") != self.client_id:
            return self._refuse("unknown client_id")
        if args.get("redirect_uri") not in self.redirect_uris:
            return self._refuse("redirect_uri not registered")
        if args.get("response_type") != "code" or "openid" not in args.get("scope", "").split():
            return self._refuse("response_type code and scope openid are required")
        if args.get("code_challenge_method") != "S256" or not args.get("code_challenge"):
            return self._refuse("PKCE with S256 is required")
        if not args.get("state") or not args.get("nonce"):
            return self._refuse("state and nonce are required")
        wanted = args.get("acr_values") or "idporten-loa-substantial"
        if wanted not in LEVELS[1:]:
            return self._refuse("unsupported acr_values")
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = {"challenge": args["code_challenge"], "nonce": args["nonce"],
                                "redirect_uri": args["redirect_uri"], "acr": wanted,
                                "pid": self.person, "at": time.time(), "used": False}
        query = urlencode({"code": code, "state": args["state"], "iss": self.issuer})
        return Response(status=302, headers={"Location": f"{args['redirect_uri']}?{query}"})

    def _client_ok(self, request: Request) -> bool:
        form = request.form
        if form.get("client_assertion_type") == ASSERTION_TYPE:
            return self._assertion_ok(form.get("client_assertion", ""))
        auth = request.authorization
        if auth is not None and auth.type == "basic":
            self.client_auth.append("client_secret_basic")
            return auth.username == self.client_id and auth.password == self.client_secret
        self.client_auth.append("client_secret_post")
        return (form.get("client_id") == self.client_id
                and form.get("client_secret") == self.client_secret)

    def _assertion_ok(self, assertion: str) -> bool:
        """private_key_jwt as ID-porten checks it, against the registered public key."""
        self.client_auth.append("private_key_jwt")
        if self.client_key is None:
            return False
        try:
            token = jwt.decode(assertion, self.client_key, algorithms=["RS256"])
        except (JoseError, ValueError):  # a bad signature or a malformed token
            return False
        claims, now = token.claims, time.time()
        with self.lock:
            fresh = claims.get("jti") and claims["jti"] not in self.assertions_seen
            self.assertions_seen.add(claims.get("jti"))
        return bool(fresh and token.header.get("kid") == self.client_key.kid
                    and claims.get("iss") == claims.get("sub") == self.client_id
                    and claims.get("aud") == self.issuer
                    and isinstance(claims.get("exp"), (int, float)) and claims["exp"] > now
                    and claims["exp"] - now <= 120)

    def token(self, request: Request) -> Response:
        if request.method != "POST":
            return self._refuse("POST only", 405)
        if not self._client_ok(request):
            return self._refuse("client authentication failed", 401, "invalid_client")
        form = request.form
        if form.get("grant_type") != "authorization_code":
            return self._refuse("unsupported grant_type", 400, "unsupported_grant_type")
        with self.lock:
            grant = self.codes.get(form.get("code", ""))
            if grant is None or grant["used"] or time.time() - grant["at"] > CODE_TTL:
                return self._refuse("code unknown, used or expired", 400, "invalid_grant")
            grant["used"] = True  # a code works once, even when the rest is wrong
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return self._refuse("redirect_uri differs", 400, "invalid_grant")
        if _s256(form.get("code_verifier", "")) != grant["challenge"]:
            return self._refuse("code_verifier does not match", 400, "invalid_grant")
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.client_id, "sub": secrets.token_urlsafe(16),
                  "pid": grant["pid"], "acr": grant["acr"], "amr": ["TestID"],
                  "nonce": grant["nonce"], "iat": now, "exp": now + 120,
                  "auth_time": now, "locale": "nb", "sid": secrets.token_urlsafe(8)}
        claims.update(self.next_claims)
        self.next_claims = {}
        self.issued.append(claims)
        key = self.other_key if self.sign_with_other_key else self.key
        id_token = jwt.encode({"alg": "RS256", "kid": "standin-1", "typ": "JWT"}, claims, key)
        body = {"access_token": secrets.token_urlsafe(32), "token_type": "Bearer",
                "expires_in": 120, "scope": "openid profile", "id_token": id_token}
        return Response(json.dumps(body), content_type="application/json",
                        headers={"Cache-Control": "no-store"})

    def wsgi(self, environ, start_response):
        request = Request(environ)
        if request.path == "/.well-known/openid-configuration":
            response = Response(json.dumps(self.discovery()), content_type="application/json")
        elif request.path == "/authorize":
            response = self.authorize(request)
        elif request.path == "/token":
            response = self.token(request)
        elif request.path == "/jwks":
            response = Response(json.dumps(KeySet([self.key]).as_dict(private=False)),
                                content_type="application/json")
        else:
            response = Response("not found", status=404)
        return response(environ, start_response)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--redirect-uri", default="http://127.0.0.1:8000/idporten/callback")
    args = parser.parse_args()
    with IdPortenStandIn(redirect_uri=args.redirect_uri, port=args.port) as idp:
        print(f"ID-porten stand-in at {idp.issuer} (client standin-client / standin-secret)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
