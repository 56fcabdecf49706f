"""Scrapes the assistant's Prometheus metrics while a bench runs, so its figures come from the
same counters an operator alerts on (issue 13)."""
from __future__ import annotations

import threading
import time
from typing import Any, Dict, List, Optional

import requests
from prometheus_client.parser import text_string_to_metric_families

GAUGES = ("assistant_inbound_queue_depth", "assistant_inbound_oldest_age_seconds",
          "assistant_outbox_backlog", "assistant_outbox_oldest_age_seconds",
          "assistant_handoffs_waiting")


def samples(text: str) -> Dict[str, float]:
    """`name{label="v",...}` -> value for every assistant_* sample of one scrape."""
    found: Dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.name.startswith("assistant_"):
                continue
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return found


class MetricsScraper:
    """Polls /metrics of named endpoints every `interval` seconds in a thread."""

    def __init__(self, endpoints: Dict[str, str], token: str, interval: float = 5.0):
        self.endpoints, self.interval = endpoints, interval
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.scrapes: List[Dict[str, Any]] = []
        self.raw: Dict[str, str] = {}  # the busiest scrape of each endpoint, as served
        self._busiest = -1.0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> "MetricsScraper":
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> Dict[str, Any]:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)
        self.scrape_once()
        return self.summary()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.scrape_once()

    def scrape_once(self) -> None:
        scrape: Dict[str, Any] = {"t": round(time.monotonic() - self.started, 1)}
        texts = {}
        for name, url in self.endpoints.items():
            try:
                response = self.http.get(url, timeout=10)
                response.raise_for_status()
            except requests.RequestException as exc:
                scrape[name] = {"error": type(exc).__name__}
                continue
            texts[name] = response.text
            scrape[name] = samples(response.text)
        depth = scrape.get("portal", {}).get("assistant_inbound_queue_depth", -1.0) \
            if isinstance(scrape.get("portal"), dict) else -1.0
        if depth >= self._busiest and texts:
            self._busiest, self.raw = depth, texts
        self.scrapes.append(scrape)

    def summary(self) -> Dict[str, Any]:
        """Peaks of the queue gauges over the run and the last value of every counter."""
        peaks = {name: max((s["portal"].get(name, 0.0) for s in self.scrapes
                            if isinstance(s.get("portal"), dict)), default=None)
                 for name in GAUGES}
        last = {name: values for name, values in self.scrapes[-1].items()
                if name != "t"} if self.scrapes else {}
        return {"scrapes": len(self.scrapes), "interval_s": self.interval, "peaks": peaks,
                "last": last}

    def excerpt(self, prefixes=("assistant_turns_total", "assistant_webhook_ack_seconds_count",
                                "assistant_inbound_queue_depth", "assistant_outbox_backlog",
                                "assistant_sms_sends_total", "assistant_active_model",
                                "assistant_login_codes")) -> str:
        """The lines of the busiest scrape an operator would look at first."""
        lines = []
        for name, text in self.raw.items():
            lines += [f"[{name}] {line}" for line in text.splitlines()
                      if line.startswith(prefixes)]
        return "\n".join(lines)
