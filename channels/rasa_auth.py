"""Rasa's HTTP API token in an `Authorization: Bearer` header, not only in the query string.

Rasa 3.6 reads its API token from `?token=` only (rasa/server.py requires_auth), so every
authenticated URL carries the secret, where proxies and access logs keep it. This wraps
`requires_auth` before Rasa builds its app: a request with `Authorization: Bearer <token>`
(compared in constant time) is let through; anything else goes to Rasa's own check.
"""
from __future__ import annotations

import hmac
from functools import wraps
from inspect import isawaitable
from typing import Any, Callable, Optional, Text


def bearer_matches(header: Optional[str], token: Optional[str]) -> bool:
    scheme, _, provided = (header or "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(
        provided.strip().encode(), token.encode())


def install_bearer_token_auth() -> None:
    import rasa.server

    original = rasa.server.requires_auth
    if getattr(original, "accepts_bearer", False):
        return

    def requires_auth(app: Any, token: Optional[Text] = None) -> Callable:
        rasa_check = original(app, token)

        def decorator(view: Callable) -> Callable:
            checked = rasa_check(view)

            @wraps(view)
            async def decorated(request: Any, *args: Any, **kwargs: Any) -> Any:
                if bearer_matches(request.headers.get("Authorization"), token):
                    result = view(request, *args, **kwargs)
                    return await result if isawaitable(result) else result
                return await checked(request, *args, **kwargs)

            return decorated

        return decorator

    requires_auth.accepts_bearer = True  # type: ignore[attr-defined]
    rasa.server.requires_auth = requires_auth
