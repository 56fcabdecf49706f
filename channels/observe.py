"""Rasa's side of the metrics and the correlation id.

- Every turn (any channel) is counted by channel and outcome and timed; the correlation id it
  arrived with (UserMessage metadata, set by the gateway channel from the turn worker's call)
  is bound to its log lines and kept in the user event's metadata, which Rasa sends to the
  action server inside the tracker. A turn that arrives without one (web chat) gets one.
- Logs are the assistant's structured lines (portal/logsetup.py), not coloredlogs'.
- GET /webhooks/gateway/metrics serves them (bearer METRICS_TOKEN), see channels/gateway.py.
"""
from __future__ import annotations

import functools
import logging
import time

from prometheus_client import Gauge

from portal import correlation, logsetup, metrics

PROCESS = "rasa"
SANIC_LOGGERS = ("sanic.root", "sanic.error", "sanic.access", "sanic.server")
MODEL = Gauge("assistant_rasa_model", "The model this Rasa server has loaded (1)",
              ["model_id", "file"])
_MARK = "_assistant_observed"


def _log_level(level) -> int:
    if isinstance(level, int):
        return level
    return logging.getLevelName(str(level or "INFO").upper()) if level else logging.INFO


def install() -> None:
    """Structured logging instead of coloredlogs, and observed turns."""
    import rasa.utils.io
    from rasa.core.processor import MessageProcessor

    def structured(loglevel=None) -> None:
        level = _log_level(loglevel)
        logsetup.configure(PROCESS, level=level if isinstance(level, int) else logging.INFO)

    rasa.utils.io.configure_colored_logging = structured
    structured()
    original = MessageProcessor.handle_message
    if getattr(original, _MARK, False):
        return

    @functools.wraps(original)
    async def handle_message(self, message):
        metadata = dict(message.metadata or {})
        given = correlation.valid(metadata.get(correlation.METADATA_KEY)) or correlation.new()
        metadata[correlation.METADATA_KEY] = given
        message.metadata = metadata
        channel = message.input_channel or "unknown"
        started = time.perf_counter()
        with correlation.bound(given):
            try:
                result = await original(self, message)
            except Exception:
                metrics.TURNS.labels(PROCESS, channel, "error").inc()
                raise
            metrics.TURNS.labels(PROCESS, channel, "ok").inc()
            metrics.TURN_SECONDS.labels(PROCESS, channel).observe(time.perf_counter() - started)
            logging.getLogger(__name__).info("turn done on channel %s", channel,
                                             extra={"channel": channel})
        return result

    setattr(handle_message, _MARK, True)
    MessageProcessor.handle_message = handle_message


def restyle_sanic() -> None:
    for name in SANIC_LOGGERS:
        logsetup.restyle(logging.getLogger(name), PROCESS)


def model_gauge(agent) -> None:
    """Sets the loaded model's gauge (called at scrape time)."""
    MODEL.clear()
    processor = getattr(agent, "processor", None)
    if processor is None:
        return
    model_id = getattr(getattr(processor, "model_metadata", None), "model_id", "") or ""
    file = str(getattr(processor, "model_filename", "") or "")
    MODEL.labels(model_id, file.rsplit("/", 1)[-1]).set(1)
