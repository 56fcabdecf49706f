"""The environment every process of the assistant shares: ports, tokens, URLs, files."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List
from urllib.parse import parse_qs, urlparse

from portal.config import PROJECT_ROOT, Settings, persistent_secret

BOT_DIR = PROJECT_ROOT / "bot"


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

    @classmethod
    def from_env(cls, env=os.environ) -> "Runtime":
        settings = Settings.from_env(env)

        def secret(name: str) -> str:
            if env.get(name):
                return env[name]
            if settings.is_production:
                raise RuntimeError(f"{name} must be set when ASSISTANT_ENV=production")
            return persistent_secret(settings.var_dir, name.lower())

        return cls(settings=settings, rasa_port=int(env.get("RASA_PORT", "5005")),
                   actions_port=int(env.get("ACTIONS_PORT", "5055")),
                   rasa_auth_token=secret("RASA_AUTH_TOKEN"),
                   webchat_secret=secret("WEBCHAT_SECRET"),
                   action_server_token=secret("ACTION_SERVER_TOKEN"), base_env=dict(env),
                   rasa_instances=_count(env, "RASA_INSTANCES"),
                   turn_workers=_count(env, "TURN_WORKERS", minimum=0))

    @property
    def production_stores(self) -> bool:
        """PostgreSQL conversations and Redis locks, when both are configured."""
        return (self.settings.database_url.startswith("postgresql")
                and self.settings.redis_url is not None)

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

    def child_env(self) -> Dict[str, str]:
        """What the portal, the action server and Rasa get in their environment."""
        s = self.settings
        env = dict(self.base_env)
        env.update({
            "ASSISTANT_ENV": s.environment,
            "ASSISTANT_VAR_DIR": str(s.var_dir),
            "DATABASE_URL": s.database_url,
            "PORTAL_PORT": str(s.port),
            "PORTAL_URL": self.portal_url,
            "PORTAL_SERVICE_TOKEN": s.service_token,
            "DISPATCH_TOKEN": s.dispatch_token,
            "IDENTITY_HASH_KEY": s.identity_key,
            "RASA_AUTH_TOKEN": self.rasa_auth_token,
            "WEBCHAT_SECRET": self.webchat_secret,
            "GATEWAY_TOKEN": s.gateway_token,
            "RASA_URLS": ",".join(self.rasa_urls),
            "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{self.actions_port}/webhook",
            "ACTION_SERVER_TOKEN": self.action_server_token,
            "TRACKER_SQLITE_PATH": str(s.var_dir / "conversations.sqlite3"),
            "PYTHONUNBUFFERED": "1",
            "RASA_TELEMETRY_ENABLED": "false",  # citizens' conversations send nothing out
            "PUBLIC_BASE_URL": s.public_base_url,
            "TWILIO_AUTH_TOKEN": s.twilio_auth_token or "",
        })
        if s.redis_url:
            env["REDIS_URL"] = s.redis_url
        if self.production_stores:
            env.update(_tracker_db_env(s.database_url))
            env.update(_lock_redis_env(s.redis_url))
        return env


def _count(env, name: str, minimum: int = 1) -> int:
    value = env.get(name) or "1"
    if not value.isdigit() or int(value) < minimum:
        raise RuntimeError(f"{name} must be a whole number of at least {minimum}")
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
