"""Prometheus metrics of every process, and the figures the portal computes from the database.

Counters and histograms live in the process that does the work (turn workers, SMS worker,
Rasa, action server, the portal's webhooks). What the database knows (queue depths, the
oldest waiting message, the outbox, login codes, handoffs, the active model) is computed by
the portal at scrape time, so it is right however many workers run and survives restarts.

The portal under gunicorn with several workers uses prometheus_client's multiprocess mode
(PROMETHEUS_MULTIPROC_DIR, set by assistant/runtime.py under var/metrics/portal).
Every /metrics needs `Authorization: Bearer $METRICS_TOKEN`.
"""
from __future__ import annotations

import hmac
import os
from typing import Iterable, Optional, Tuple

from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter,
                               Histogram, generate_latest)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30)

TURNS = Counter("assistant_turns", "Turns handled, by channel and outcome",
                ["process", "channel", "outcome"])
TURN_SECONDS = Histogram("assistant_turn_seconds", "Time to run one turn, by channel",
                         ["process", "channel"], buckets=LATENCY_BUCKETS)
WEBHOOK_SECONDS = Histogram("assistant_webhook_ack_seconds",
                            "Time from a Twilio webhook arriving to its answer",
                            ["webhook", "status"], buckets=LATENCY_BUCKETS)
SMS_SENDS = Counter("assistant_sms_sends", "SMS hand-overs to Twilio by outcome and purpose",
                    ["outcome", "purpose"])
SMS_ERRORS = Counter("assistant_sms_errors", "Twilio error codes seen while sending",
                     ["code"])
ACTIONS = Counter("assistant_actions", "Custom actions run, by action and outcome",
                  ["action", "outcome"])
ACTION_SECONDS = Histogram("assistant_action_seconds", "Time to run one action call",
                           buckets=LATENCY_BUCKETS)

CONTENT_TYPE = CONTENT_TYPE_LATEST


def authorized(header: Optional[str], token: str) -> bool:
    """`Authorization: Bearer <token>`; no token configured means nobody is let in."""
    scheme, _, given = (header or "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode())


def metrics_token(env=os.environ) -> str:
    return env.get("METRICS_TOKEN") or ""


class DatabaseCollector(Collector):
    """Gauges read from the portal database at scrape time."""

    def __init__(self, portal):
        self.portal = portal

    def collect(self) -> Iterable[GaugeMetricFamily]:
        from portal.ops_figures import figures

        with self.portal.sessions() as db:
            f = figures(db, self.portal.clock.now())
        yield _gauge("assistant_inbound_queue_depth", "Inbound SMS waiting for a turn",
                     f.inbound_waiting)
        yield _gauge("assistant_inbound_oldest_age_seconds",
                     "Age of the oldest inbound SMS waiting for a turn", f.inbound_oldest_age)
        outbox = GaugeMetricFamily("assistant_outbox_messages", "Outbox rows by status",
                                   labels=["status", "purpose"])
        for (status, purpose), count in sorted(f.outbox.items()):
            outbox.add_metric([status, purpose], count)
        yield outbox
        yield _gauge("assistant_outbox_backlog", "SMS waiting to be handed to Twilio",
                     f.outbox_backlog)
        yield _gauge("assistant_outbox_oldest_age_seconds",
                     "Age of the oldest SMS waiting to be handed to Twilio", f.outbox_oldest_age)
        errors = GaugeMetricFamily("assistant_outbox_error_codes",
                                   "Outbox rows by the Twilio error code they ended with",
                                   labels=["code"])
        for code, count in sorted(f.error_codes.items()):
            errors.add_metric([code], count)
        yield errors
        codes = GaugeMetricFamily("assistant_login_codes", "Login code SMS by outcome",
                                  labels=["outcome"])
        for outcome, count in sorted(f.login_codes.items()):
            codes.add_metric([outcome], count)
        yield codes
        yield _gauge("assistant_handoffs_waiting", "Handoffs waiting for a person",
                     f.handoffs_waiting)
        yield _gauge("assistant_handoff_oldest_wait_seconds",
                     "How long the longest-waiting handoff has waited", f.handoff_oldest_wait)
        model = GaugeMetricFamily("assistant_active_model", "The active model version (1)",
                                  labels=["version", "path"])
        model.add_metric([f.model_version, f.model_path], 1)
        yield model


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def portal_registry(portal) -> CollectorRegistry:
    """The portal's registry: every gunicorn worker's counters plus the database gauges."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
    else:
        registry = CollectorRegistry()
        registry.register(_DefaultRegistry())
    registry.register(DatabaseCollector(portal))
    return registry


class _DefaultRegistry(Collector):
    """This process's own metrics (one process: no multiprocess directory)."""

    def collect(self):
        return REGISTRY.collect()


def exposition(registry=REGISTRY) -> Tuple[bytes, str]:
    return generate_latest(registry), CONTENT_TYPE
