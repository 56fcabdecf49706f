"""A small /metrics server for the processes that have no HTTP side (the workers).

On the loopback (METRICS_HOST to change), on METRICS_PORT; bearer METRICS_TOKEN. No port set:
no server (a worker run by hand).
"""
from __future__ import annotations

import logging
import threading
from typing import Mapping, Optional
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from portal import metrics

log = logging.getLogger(__name__)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *_args) -> None:  # scrapes are not worth a line each
        pass


def metrics_app(token: str):
    scrape = make_wsgi_app()

    def app(environ, start_response):
        if environ.get("PATH_INFO") not in ("/metrics", "/health"):
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b'{"error": {"code": "not_found", "message": "Only /metrics is here."}}']
        if environ["PATH_INFO"] == "/health":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b'{"status": "ok"}']
        if not metrics.authorized(environ.get("HTTP_AUTHORIZATION"), token):
            start_response("401 Unauthorized", [("Content-Type", "application/json")])
            return [b'{"error": {"code": "invalid_token", '
                    b'"message": "A valid metrics bearer token is required."}}']
        return scrape(environ, start_response)

    return app


def serve_metrics(env: Mapping[str, str], process: str) -> Optional[WSGIServer]:
    """Starts the metrics server in a daemon thread when METRICS_PORT is set."""
    port = env.get("METRICS_PORT")
    if not port:
        return None
    host = env.get("METRICS_HOST") or "127.0.0.1"
    try:
        server = make_server(host, int(port), metrics_app(metrics.metrics_token(env)),
                             handler_class=_QuietHandler)
    except OSError as exc:  # the work matters more than its figures: go on, loudly
        log.error("%s cannot serve metrics on %s:%s (%s); working without them", process,
                  host, port, exc.strerror or exc)
        return None
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("%s metrics on http://%s:%s/metrics", process, host, port)
    return server
