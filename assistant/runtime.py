"""The environment of each process of the assistant: ports, URLs, files and its own secrets.

Every process gets the environment it was started from minus every secret of the
assistant, plus the settings all share and only the secrets it needs itself.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional
from urllib.parse import parse_qs, urlparse

from portal.config import PROJECT_ROOT, WEB_SECRETS, Settings, environment_of, secret_from

BOT_DIR = PROJECT_ROOT / "bot"
LOOPBACK = "127.0.0.1"

TWILIO_VARS = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER",
               "TWILIO_MESSAGING_SERVICE_SID", "TWILIO_API_BASE_URL")
# Variables that hold a secret or a URL that may carry a password; none is inherited.
SECRET_VARS = (*WEB_SECRETS, "RASA_AUTH_TOKEN", "WEBCHAT_SECRET", "ACTION_SERVER_TOKEN",
               "METRICS_TOKEN",
               "DATABASE_URL", "REDIS_URL", "TRACKER_DB_URL", "TRACKER_DB_PASSWORD",
               "LOCK_REDIS_PASSWORD",
               "IDPORTEN_CLIENT_SECRET", *TWILIO_VARS)
# The portal's own processes (the web app and its two workers) share the portal's secrets.
PORTAL_PROCESSES = ("portal", "sms-worker", "turn-worker")
PROCESSES = (*PORTAL_PROCESSES, "actions", "rasa")


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    rasa_port: int
    actions_port: int
    rasa_auth_token: str
    webchat_secret: str
    action_server_token: str
    base_env: Dict[str, str]
    rasa_instances: int = 1
    turn_workers: int = 1
    # The turns' processes (Rasa, the action server, turn workers) run this much nicer than the
    # portal, so a burst of turns on busy cores never delays a webhook's ack (TURN_NICENESS).
    turn_niceness: int = 10
    metrics_token: str = ""  # every process's /metrics (METRICS_TOKEN)
    metrics_port_base: int = 9400  # the SMS worker's metrics; turn worker N: base + N

    @classmethod
    def from_env(cls, env=os.environ) -> "Runtime":
        settings = Settings.from_env(env, required=WEB_SECRETS)  # it hands them out

        def secret(name: str) -> str:
            return secret_from(env, environment_of(env), settings.var_dir, name)

        return cls(settings=settings, rasa_port=int(env.get("RASA_PORT", "5005")),
                   actions_port=int(env.get("ACTIONS_PORT", "5055")),
                   rasa_auth_token=secret("RASA_AUTH_TOKEN"),
                   webchat_secret=secret("WEBCHAT_SECRET"),
                   action_server_token=secret("ACTION_SERVER_TOKEN"), base_env=dict(env),
                   rasa_instances=_count(env, "RASA_INSTANCES"),
                   turn_workers=_count(env, "TURN_WORKERS", minimum=0),
                   turn_niceness=_count(env, "TURN_NICENESS", minimum=0, default="10",
                                        maximum=19),
                   metrics_token=secret("METRICS_TOKEN"),
                   metrics_port_base=int(env.get("METRICS_PORT_BASE", "9400")))

    @property
    def production_stores(self) -> bool:
        """PostgreSQL conversations and Redis locks, when both are configured."""
        return (self.settings.database_url.startswith("postgresql")
                and self.settings.redis_url is not None)

    @property
    def idporten(self) -> bool:
        """ID-porten login is configured (issuer, client id, and a secret or a key file)."""
        s = self.settings
        return bool(s.idporten_issuer and s.idporten_client_id
                    and (s.idporten_client_secret or s.idporten_client_key_file))

    @property
    def endpoints_file(self) -> Path:
        name = "endpoints.production.yml" if self.production_stores else "endpoints.yml"
        return BOT_DIR / name

    @property
    def credentials_file(self) -> Path:
        name = "credentials.production.yml" if self.settings.is_production else "credentials.yml"
        return BOT_DIR / name

    @property
    def portal_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def rasa_ports(self) -> List[int]:
        """RASA_PORT, RASA_PORT+1, ...: one per Rasa server."""
        return [self.rasa_port + i for i in range(self.rasa_instances)]

    @property
    def rasa_urls(self) -> List[str]:
        return [f"http://127.0.0.1:{port}" for port in self.rasa_ports]

    def worker_metrics_port(self, process: str, index: int = 0) -> int:
        """Where a worker serves /metrics: the SMS worker on the base, turn worker N on base+N."""
        return self.metrics_port_base + (index if process == "turn-worker" else 0)

    def interface(self, variable: str) -> str:
        """Where a server listens: always the loopback in the demo, else `variable` or it."""
        if self.settings.is_demo:
            return LOOPBACK
        return self.base_env.get(variable) or LOOPBACK

    def _shared_env(self) -> Dict[str, str]:
        s = self.settings
        env = {k: v for k, v in self.base_env.items() if k not in SECRET_VARS}
        env.update({
            "ASSISTANT_ENV": s.environment,
            "ASSISTANT_VAR_DIR": str(s.var_dir),
            "PORTAL_PORT": str(s.port),
            "PORTAL_URL": self.portal_url,
            "PYTHONUNBUFFERED": "1",
            "RASA_TELEMETRY_ENABLED": "false",  # citizens' conversations send nothing out
            "PUBLIC_BASE_URL": s.public_base_url,
            "RASA_URLS": ",".join(self.rasa_urls),
        })
        return env

    def _observed_env(self, process: str) -> Dict[str, str]:
        """Metrics and log settings of one process."""
        env = {"METRICS_TOKEN": self.metrics_token}
        if process == "portal":  # gunicorn workers share their counters through files
            env["PROMETHEUS_MULTIPROC_DIR"] = str(self.settings.var_dir / "metrics" / "portal")
        return env

    def _portal_env(self) -> Dict[str, str]:
        s = self.settings
        env = {"DATABASE_URL": s.database_url, "PORTAL_SERVICE_TOKEN": s.service_token,
               "DISPATCH_TOKEN": s.dispatch_token, "IDENTITY_HASH_KEY": s.identity_key,
               "GATEWAY_TOKEN": s.gateway_token, "OUTBOX_KEY": s.outbox_key,
               "STAFF_SESSION_SECRET": s.staff_session_secret}
        env.update({name: self.base_env[name] for name in TWILIO_VARS
                    if self.base_env.get(name)})
        if s.redis_url:
            env["REDIS_URL"] = s.redis_url
        if s.tracker_db_url:  # the retention purge reaches Rasa's conversations there
            env["TRACKER_DB_URL"] = s.tracker_db_url
        return env

    def env_for(self, process: str) -> Dict[str, str]:
        """The environment of one process (one of PROCESSES), with only its own secrets."""
        s = self.settings
        env = self._shared_env()
        if process in PORTAL_PROCESSES:
            env.update(self._portal_env())
            if process == "portal":
                # Admins activate models on every Rasa server from the portal web app,
                # and staff TOTP secrets are opened there only.
                env.update({"RASA_AUTH_TOKEN": self.rasa_auth_token,
                            "STAFF_TOTP_KEY": s.staff_totp_key})
            if process == "portal" and self.idporten:
                # ID-porten login reads the web chat's tickets and keeps the client's
                # secret or private key (a file only the portal's user may read).
                env["WEBCHAT_SECRET"] = self.webchat_secret
                env.update({name: value for name, value in (
                    ("IDPORTEN_CLIENT_SECRET", s.idporten_client_secret),
                    ("IDPORTEN_CLIENT_KEY_FILE", s.idporten_client_key_file),
                    ("IDPORTEN_CLIENT_KEY_ID", s.idporten_client_key_id)) if value})
        elif process == "actions":
            env.update({"PORTAL_SERVICE_TOKEN": s.service_token,
                        "ACTION_SERVER_TOKEN": self.action_server_token,
                        "ACTIONS_HOST": self.interface("ACTIONS_INTERFACE")})
        elif process == "rasa":
            env.update({
                "RASA_AUTH_TOKEN": self.rasa_auth_token,
                "WEBCHAT_SECRET": self.webchat_secret,
                "GATEWAY_TOKEN": s.gateway_token,
                "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{self.actions_port}/webhook",
                "ACTION_SERVER_TOKEN": self.action_server_token,
                "TRACKER_SQLITE_PATH": str(s.var_dir / "conversations.sqlite3"),
            })
            if self.idporten:
                env["IDPORTEN_LOGIN_URL"] = f"{s.portal_public_url}/idporten/login"
            if self.production_stores:
                env.update(_tracker_db_env(s.database_url))
                env.update(_lock_redis_env(s.redis_url))
        else:
            raise ValueError(f"unknown process {process!r}")
        env.update(self._observed_env(process))
        return env

    def child_env(self) -> Dict[str, str]:
        """The environment without any secret, for what the supervisor itself runs."""
        return self._shared_env()


def _count(env, name: str, minimum: int = 1, default: str = "1",
           maximum: Optional[int] = None) -> int:
    value = env.get(name) or default
    if not value.isdigit() or int(value) < minimum or (maximum is not None
                                                       and int(value) > maximum):
        raise RuntimeError(f"{name} must be a whole number of at least {minimum}"
                           + (f" and at most {maximum}" if maximum is not None else ""))
    return int(value)


def _tracker_db_env(url: str) -> Dict[str, str]:
    parts = urlparse(url)
    options = parse_qs(parts.query).get("options", [""])[0]
    return {
        "TRACKER_DB_HOST": parts.hostname or "127.0.0.1",
        "TRACKER_DB_PORT": str(parts.port or 5432),
        "TRACKER_DB_NAME": parts.path.lstrip("/") or "postgres",
        "TRACKER_DB_USER": parts.username or "postgres",
        "TRACKER_DB_PASSWORD": parts.password or "",
        "TRACKER_DB_OPTIONS": options,
    }


def _lock_redis_env(url: str) -> Dict[str, str]:
    parts = urlparse(url)
    return {
        "LOCK_REDIS_HOST": parts.hostname or "127.0.0.1",
        "LOCK_REDIS_PORT": str(parts.port or 6379),
        "LOCK_REDIS_DB": (parts.path.lstrip("/") or "0"),
        "LOCK_REDIS_PASSWORD": parts.password or "",
    }
