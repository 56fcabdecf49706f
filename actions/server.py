"""The action server: rasa-sdk's app, bound to loopback, behind a shared secret, and strict
about what it accepts.

rasa-sdk's own server listens on all interfaces, accepts any caller, answers a malformed or
forged action call with a 500 and echoes the whole request (tracker and slots) back in it.
Here:
- it binds `ACTIONS_HOST` (127.0.0.1 unless set);
- `/webhook` and `/actions` need `Authorization: Bearer $ACTION_SERVER_TOKEN`, which Rasa sends
  from `action_endpoint.headers` in `bot/endpoints*.yml`; production refuses to start without it;
- Rasa sends no domain (`enable_selective_domain`): calls get the one loaded at start-up;
- a call that is not shaped like Rasa's gets a 400 that names what is wrong, before any action
  runs; bodies are limited in size, compressed ones too;
- an unexpected error answers a 500 with no request data in it, and is logged redacted.
"""
from __future__ import annotations

import argparse
import hmac
import json
import logging
import os
import time
import zlib
from typing import Any, Optional

from sanic import Sanic, response
from sanic.request import Request

from actions import domain

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 2 * 1024 * 1024  # a domain plus a long tracker stays well below this
PROTECTED_PATHS = ("/webhook", "/actions")


class BadCall(ValueError):
    """An action call that is not shaped like the ones Rasa sends."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise BadCall(message)


def _check_message(message: Any) -> None:
    _require(isinstance(message, dict), "tracker.latest_message must be an object")
    _require(message.get("text") is None or isinstance(message.get("text"), str),
             "tracker.latest_message.text must be a string")
    intent = message.get("intent")
    _require(intent is None or isinstance(intent, dict),
             "tracker.latest_message.intent must be an object")
    entities = message.get("entities")
    _require(entities is None or (isinstance(entities, list)
                                  and all(isinstance(e, dict) for e in entities)),
             "tracker.latest_message.entities must be a list of objects")


def check_call(call: Any) -> None:
    """Raises BadCall unless `call` has the parts of an action call that actions read."""
    _require(isinstance(call, dict), "the body must be a JSON object")
    _require(isinstance(call.get("next_action"), str) and call["next_action"],
             "next_action must be a non-empty string")
    tracker = call.get("tracker")
    _require(isinstance(tracker, dict), "tracker must be an object")
    _require(isinstance(tracker.get("sender_id"), str), "tracker.sender_id must be a string")
    _require(isinstance(tracker.get("slots", {}), dict), "tracker.slots must be an object")
    _check_message(tracker.get("latest_message") or {})
    events = tracker.get("events", [])
    _require(isinstance(events, list) and all(
        isinstance(e, dict) and isinstance(e.get("event"), str) for e in events),
        "tracker.events must be a list of events")
    _require(isinstance(call.get("domain", {}), dict), "domain must be an object")


def _body(request: Request) -> bytes:
    body = request.body or b""
    if request.headers.get("Content-Encoding") == "deflate":
        inflater = zlib.decompressobj()
        try:
            body = inflater.decompress(body, MAX_BODY_BYTES + 1)
        except zlib.error:
            raise BadCall("the body is not valid deflate data")
        _require(len(body) <= MAX_BODY_BYTES and not inflater.unconsumed_tail,
                 "the body is too large")
    return body


def _parse(request: Request) -> Any:
    try:
        return json.loads(_body(request))
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep
        raise BadCall("the body is not valid JSON")


def _error(status: int, code: str, message: str):
    return response.json({"error": {"code": code, "message": message}}, status=status)


def _authorized(request: Request, token: str) -> bool:
    scheme, _, given = (request.headers.get("Authorization") or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())


def correlation_of(call: Any) -> Optional[str]:
    """The correlation id Rasa keeps in the metadata of the turn's user event."""
    from portal import correlation

    for event in reversed((call.get("tracker") or {}).get("events") or []):
        if event.get("event") == "user":
            return correlation.valid((event.get("metadata") or {}).get(
                correlation.METADATA_KEY))
    return None


def observe(app: Sanic, metrics_token: str) -> Sanic:
    """GET /metrics (bearer METRICS_TOKEN) and every action call counted and timed."""
    from portal import metrics

    @app.get("/metrics")
    async def scrape(request: Request):
        if not metrics.authorized(request.headers.get("Authorization"), metrics_token):
            return _error(401, "invalid_token", "A valid metrics bearer token is required.")
        body, content_type = metrics.exposition()
        return response.raw(body, content_type=content_type)

    @app.on_response
    async def count(request: Request, answer):
        action = getattr(request.ctx, "action", None)
        if action is None:
            return
        outcome = "ok" if answer.status < 400 else f"http_{answer.status}"
        metrics.ACTIONS.labels(action, outcome).inc()
        metrics.ACTION_SECONDS.observe(time.perf_counter() - request.ctx.started)
        log.info("action %s: %s", action, outcome, extra={"action": action, "status": answer.status})

    return app


def harden(app: Sanic, token: Optional[str]) -> Sanic:
    """Adds the secret check, call validation and a quiet error handler to rasa-sdk's app."""
    app.config.REQUEST_MAX_SIZE = MAX_BODY_BYTES

    @app.on_request
    async def guard(request: Request):
        if not request.path.startswith(PROTECTED_PATHS):
            return None
        if token and not _authorized(request, token):
            return _error(401, "invalid_token", "A valid bearer token is required.")
        if request.path == "/webhook":
            try:
                call = _parse(request)
                check_call(call)
            except BadCall as error:
                return _error(400, "invalid_action_call", str(error))
            call.setdefault("domain", domain.loaded())  # Rasa sends none (selective domain)
            # rasa-sdk reads request.json; give it the checked, decompressed call.
            request.parsed_json = call
            from portal import correlation

            correlation.bind(correlation_of(call))  # the actions' portal calls pass it on
            request.ctx.action, request.ctx.started = call["next_action"], time.perf_counter()
            request.headers.pop("Content-Encoding", None)
        return None

    @app.exception(Exception)
    async def unexpected(request: Request, exception: Exception):
        status = getattr(exception, "status_code", 500)
        if isinstance(status, int) and 400 <= status < 500:
            return _error(status, "bad_request", "The request was not accepted.")
        log.error("action server error on %s %s", request.method, request.path,
                  exc_info=exception)
        return _error(500, "internal_error", "The action server failed; see its log.")

    return app


def create_app(token: Optional[str], metrics_token: str = "") -> Sanic:
    from rasa_sdk.endpoint import create_app as create_sdk_app

    domain.loaded()  # at start-up, so that a broken domain stops the server, not a turn
    return observe(harden(create_sdk_app("actions", cors_origins=None), token), metrics_token)


def main(argv: Optional[list] = None) -> None:
    from channels.redaction import install_log_redaction

    install_log_redaction()
    parser = argparse.ArgumentParser(description="The assistant's action server.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("ACTIONS_PORT", "5055")))
    parser.add_argument("--host", default=os.environ.get("ACTIONS_HOST", "127.0.0.1"))
    args = parser.parse_args(argv)
    token = os.environ.get("ACTION_SERVER_TOKEN") or None
    if token is None and os.environ.get("ASSISTANT_ENV", "production") not in ("demo", "test"):
        raise SystemExit("ACTION_SERVER_TOKEN must be set outside the demo: Rasa sends it, "
                         "and the action server refuses calls without it.")
    from portal import logsetup

    app = create_app(token, os.environ.get("METRICS_TOKEN") or "")
    logsetup.configure("actions")
    for name in ("sanic.root", "sanic.error", "sanic.access", "sanic.server"):
        logsetup.restyle(logging.getLogger(name), "actions")
    log.info("Action server on http://%s:%d (%s)", args.host, args.port,
             "calls need the shared token" if token else "no token: demo only")
    app.run(args.host, args.port, workers=1, access_log=False)


if __name__ == "__main__":
    main()
