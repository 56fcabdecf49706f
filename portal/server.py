"""Serving the portal with gunicorn."""
from __future__ import annotations

import multiprocessing
import os

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from portal.config import Settings


class StructuredLogger(Logger):
    """gunicorn's own log lines in the assistant's structured format."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        from portal import logsetup

        logsetup.restyle(self.error_log, "portal")
        self.error_log.propagate = False


def _fresh_metrics_dir(_server) -> None:
    """A new server starts counting from zero: old workers' files would count again."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            if name.endswith(".db"):
                os.remove(os.path.join(directory, name))


def _worker_gone(_server, worker) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


class PortalServer(BaseApplication):
    """gunicorn running the app factory; one process on SQLite, several on PostgreSQL."""

    def __init__(self, settings: Settings, host: str = "127.0.0.1"):
        self.settings = settings
        self.host = host
        super().__init__()

    def load_config(self) -> None:
        embedded = self.settings.database_url.startswith("sqlite")
        default_workers = 1 if embedded else multiprocessing.cpu_count()
        workers = int(os.environ.get("PORTAL_WORKERS", default_workers))
        if embedded or not self.settings.redis_url:
            workers = 1  # in-process stores (codes, rate limits) must live in one process
        options = {
            "bind": f"{self.host}:{self.settings.port}",
            "workers": workers,
            "worker_class": "gthread",
            "threads": int(os.environ.get("PORTAL_THREADS", 4 if not embedded else 8)),
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "info",
            "timeout": 30,
            # The portal's own clients (the action server, the web chat in Rasa) drop idle
            # connections after 1 s; on busy cores they may reuse one later than gunicorn's
            # default 2 s, when the portal has already closed it.
            "keepalive": 5,
            "logger_class": StructuredLogger,
            "on_starting": _fresh_metrics_dir,
            "child_exit": _worker_gone,
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self):
        from portal.app import create_app

        return create_app(self.settings)
