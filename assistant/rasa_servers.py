"""The client of Rasa's HTTP API on every running Rasa server: status and model swaps."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional

import requests


def server_urls(env: Mapping[str, str] = os.environ) -> List[str]:
    """RASA_URLS (comma-separated), else RASA_INSTANCES servers on consecutive ports from
    RASA_PORT (default one server on 5005)."""
    if env.get("RASA_URLS", "").strip():
        return [u.strip().rstrip("/") for u in env["RASA_URLS"].split(",") if u.strip()]
    port = int(env.get("RASA_PORT", "5005"))
    count = int(env.get("RASA_INSTANCES", "1") or 1)
    return [f"http://127.0.0.1:{port + i}" for i in range(count)]


class RasaServerError(Exception):
    """A Rasa server did not do what was asked."""


@dataclass
class SwapResult:
    ok: bool
    model_file: str
    seconds: float
    servers: List[Dict] = field(default_factory=list)  # url, before, after, ok, error
    error: Optional[str] = None
    rolled_back: bool = False


class RasaServers:
    """Every Rasa server of the deployment, reached with the API auth token."""

    def __init__(self, urls: List[str], token: str, load_timeout: float = 300):
        if not urls:
            raise ValueError("no Rasa server URLs")
        self.urls = [u.rstrip("/") for u in urls]
        self.token = token
        self.load_timeout = load_timeout
        self.http = requests.Session()
        # The token goes in a header (channels/rasa_auth.py), never in a URL that logs keep.
        self.http.headers["Authorization"] = f"Bearer {token}"

    def status(self, url: str) -> Dict:
        response = self.http.get(f"{url}/status", timeout=10)
        if response.status_code != 200:
            raise RasaServerError(f"{url}/status answered {response.status_code}")
        return response.json()

    def model_file(self, url: str) -> str:
        return self.status(url).get("model_file") or ""

    def load(self, url: str, model_file: str) -> None:
        """PUT /model: Rasa loads the model and swaps it in; until then it answers with the
        old one."""
        response = self.http.put(f"{url}/model", json={"model_file": model_file}, timeout=self.load_timeout)
        if response.status_code != 204:
            raise RasaServerError(f"{url} refused the model ({response.status_code}): "
                                  f"{response.text[:300]}")

    def swap(self, model_file: str, previous_file: Optional[str]) -> SwapResult:
        """Loads `model_file` on every server in turn; if one fails, every server goes back
        to `previous_file` (the model the deployment served before; Rasa's /status names only
        the file, not its folder)."""
        started = time.monotonic()
        done: List[Dict] = []
        for url in self.urls:
            entry = {"url": url, "before": None, "after": None, "ok": False, "error": None}
            done.append(entry)
            try:
                entry["before"] = self.model_file(url)
                self.load(url, model_file)
                entry["after"] = self.model_file(url)
                if entry["after"] != os.path.basename(model_file):
                    raise RasaServerError(f"{url} serves {entry['after']!r} after the swap")
                entry["ok"] = True
            except (requests.RequestException, RasaServerError, ValueError) as exc:
                entry["error"] = str(exc)[:500]
                self._restore(done, previous_file)
                return SwapResult(False, model_file, time.monotonic() - started, done,
                                  error=f"{url}: {entry['error']}", rolled_back=True)
        return SwapResult(True, model_file, time.monotonic() - started, done)

    def _restore(self, entries: List[Dict], previous_file: Optional[str]) -> None:
        for entry in entries:
            if not previous_file:
                entry["restored"] = False
                continue
            try:
                if self.model_file(entry["url"]) != os.path.basename(previous_file):
                    self.load(entry["url"], previous_file)
                entry["restored"] = True
            except (requests.RequestException, RasaServerError, ValueError) as exc:
                entry["restored"] = False
                entry["restore_error"] = str(exc)[:500]
