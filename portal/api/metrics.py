"""The portal's Prometheus metrics (bearer METRICS_TOKEN) and its request observation:
the correlation id of every request and the Twilio webhooks' time to answer."""
from __future__ import annotations

import logging
import time

from apifairy import other_responses
from flask import Blueprint, Flask, Response, current_app, g, request

from portal import correlation, metrics
from portal.api.context import portal, settings
from portal.api.schemas import ErrorSchema
from portal.errors import PortalError

bp = Blueprint("metrics", __name__)
log = logging.getLogger("portal.requests")

WEBHOOKS = {"/webhooks/twilio/sms": "sms", "/webhooks/twilio/status": "status"}


class MetricsUnauthorized(PortalError):
    status = 401
    code = "invalid_token"


@bp.get("/metrics")
@other_responses({200: "Prometheus text exposition",
                  401: (ErrorSchema, "No valid METRICS_TOKEN bearer token")})
def scrape():
    """Prometheus metrics: this portal's counters and the figures of its database"""
    if not metrics.authorized(request.headers.get("Authorization"), settings().metrics_token):
        raise MetricsUnauthorized("A valid metrics bearer token is required.")
    registry = current_app.extensions.get("metrics_registry")
    if registry is None:
        registry = current_app.extensions["metrics_registry"] = metrics.portal_registry(portal())
    body, content_type = metrics.exposition(registry)
    return Response(body, mimetype=content_type.split(";")[0],
                    headers={"Content-Type": content_type})


def register(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.before_request
    def start_observing() -> None:
        g.started = time.perf_counter()
        # Our own processes send theirs (the action server); anything else starts one.
        g.passed_on = correlation.valid(request.headers.get(correlation.HEADER))
        correlation.bind(g.passed_on or correlation.new())

    @app.after_request
    def finish_observing(response: Response) -> Response:
        current = correlation.current()
        if current:
            response.headers[correlation.HEADER] = current
        webhook = WEBHOOKS.get(request.path)
        if webhook and "started" in g:
            metrics.WEBHOOK_SECONDS.labels(webhook, str(response.status_code)).observe(
                time.perf_counter() - g.started)
        if webhook or g.get("passed_on"):  # a step of a message's way through the processes
            log.info("%s %s %s", request.method, request.path, response.status_code,
                     extra={"status": response.status_code})
        return response

    @app.teardown_request
    def stop_correlating(_exc) -> None:
        """A worker thread serves many requests: none inherits the last one's id."""
        correlation.bind(None)
