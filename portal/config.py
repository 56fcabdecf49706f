"""Settings read from the environment. Production is the default; the demo is explicit."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _flag(value: Optional[str], default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _days(value: str) -> int:
    """A whole number of days, at least 1."""
    if not value.strip().isdigit() or int(value) < 1:
        raise ConfigError(f"CONVERSATION_RETENTION_DAYS must be a whole number of days >= 1, "
                          f"not {value!r}.")
    return int(value)


def _hours(value: str) -> Optional[tuple]:
    """'21-8' -> (21, 8); 'off' -> None."""
    if value.strip().lower() in {"", "off", "none"}:
        return None
    start, _, end = value.partition("-")
    return int(start), int(end)


def persistent_secret(var_dir: Path, name: str) -> str:
    """Returns a secret kept under var/secrets, generating it on first use."""
    folder = var_dir / "secrets"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


ENVIRONMENTS = ("production", "demo", "test")
# The demo's conveniences (dev outbox, synthetic fødselsnumre, generated secrets, REST
# channel) exist in these environments only.
DEV_ENVIRONMENTS = ("demo", "test")
# The secrets a portal process (web app, SMS worker, command line) cannot run without.
# What the portal and its workers cannot run without: required in production, generated
# under var/secrets in the demo.
PORTAL_SECRETS = ("PORTAL_SERVICE_TOKEN", "DISPATCH_TOKEN", "IDENTITY_HASH_KEY", "GATEWAY_TOKEN",
                  "OUTBOX_KEY", "STAFF_SESSION_SECRET")
# The web app also seals and opens staff TOTP secrets; its workers never do.
WEB_SECRETS = (*PORTAL_SECRETS, "STAFF_TOTP_KEY")
DEMO_HINT = "(ASSISTANT_ENV is production unless set; `assistant up --demo` runs the local demo)"


class ConfigError(RuntimeError):
    """The environment does not describe a process that may start."""


class MissingSecret(ConfigError):
    """A production process was started without a secret it needs."""

    def __init__(self, name: str):
        super().__init__(f"{name} must be set in production {DEMO_HINT}.")
        self.name = name


def environment_of(env: Mapping[str, str]) -> str:
    environment = (env.get("ASSISTANT_ENV") or "production").strip().lower()
    if environment not in ENVIRONMENTS:
        raise ConfigError(f"ASSISTANT_ENV must be one of {', '.join(ENVIRONMENTS)}, "
                         f"not {environment!r}.")
    return environment


def secret_from(env: Mapping[str, str], environment: str, var_dir: Path, name: str) -> str:
    """A secret from the environment; generated under var/secrets outside production."""
    value = env.get(name)
    if value:
        return value
    if environment not in DEV_ENVIRONMENTS:
        raise MissingSecret(name)
    return persistent_secret(var_dir, name.lower())


@dataclass(frozen=True)
class Settings:
    """Everything the portal reads from its environment."""

    environment: str = "production"
    database_url: str = ""
    redis_url: Optional[str] = None
    var_dir: Path = PROJECT_ROOT / "var"
    service_token: str = ""
    dispatch_token: str = ""
    identity_key: str = ""
    outbox_key: str = "test-outbox-key"  # seals one-time codes in the SMS outbox (OUTBOX_KEY)
    port: int = 8000
    allow_synthetic_fnr: bool = False
    dev_outbox: bool = False
    timezone: str = "Europe/Oslo"
    print_deadline_working_hours: int = 40
    workday_start_hour: int = 8
    workday_end_hour: int = 16
    offer_answer_days: int = 10
    saving_per_digital_letter_ore: int = 2200
    session_idle_minutes: int = 30
    login_response_floor_ms: int = 300
    # Code requests (SMS bombing): per fødselsnummer and per mobile a day, per conversation
    # and per source (the sender's phone or address, where known) an hour, and in all.
    otp_codes_per_number_per_day: int = 10
    otp_codes_per_conversation_per_hour: int = 5
    otp_codes_per_source_per_hour: int = 20
    otp_codes_global_per_minute: int = 60
    otp_codes_global_per_hour: int = 1000
    personal_code_reset_hours: int = 24  # a forgotten personal code is reset after this wait
    max_body_bytes: int = 64 * 1024
    public_base_url: str = "http://127.0.0.1:8000"  # where Twilio reaches the portal
    gateway_token: str = ""  # the Rasa-side channels and the turn workers
    twilio_account_sid: Optional[str] = None
    twilio_auth_token: Optional[str] = None
    twilio_from_number: Optional[str] = None
    twilio_messaging_service_sid: Optional[str] = None
    twilio_api_base_url: Optional[str] = None
    sms_quiet_hours: Optional[tuple] = (21, 8)  # no notices from 21:00 to 08:00; None: off
    staff_opening_hours: str = "mon-fri 08:00-15:30"  # when caseworkers answer the queue
    municipality_name: str = "Bergen kommune"
    municipality_account: str = "15031234562"
    staff_session_secret: str = ""  # signs staff page sessions (Flask SECRET_KEY)
    # Seals staff TOTP secrets at rest (portal/staff/totp.py); comma-separated to rotate.
    # Only the web app holds it (assistant/runtime.py).
    staff_totp_key: str = ""
    staff_secure_cookies: bool = True  # off only in the demo (plain http on 127.0.0.1)
    staff_setup_link_hours: int = 24
    staff_idle_minutes: int = 30
    staff_claim_timeout_minutes: int = 10  # a taken conversation with no reply goes back
    conversation_retention_days: int = 30  # content older than this is purged (retention.py)
    # Rasa's tracker store (its `events` table); "" derives it: the portal database where Rasa
    # keeps its conversations there (PostgreSQL with Redis), else var/conversations.sqlite3.
    tracker_db_url: str = ""
    portal_public_url: str = "http://127.0.0.1:8000"  # where set-up links point
    metrics_token: str = ""  # bearer secret of every process's /metrics (METRICS_TOKEN)
    # ID-porten login in the web chat (portal/idporten/); off unless issuer, client and secret.
    idporten_issuer: Optional[str] = None
    idporten_client_id: Optional[str] = None
    idporten_client_secret: Optional[str] = None
    # Or private_key_jwt (what ID-porten recommends): the client's RSA private key (PEM file)
    # and the key id registered with it in Samarbeidsportalen.
    idporten_client_key_file: Optional[str] = None
    idporten_client_key_id: Optional[str] = None
    idporten_loa: str = "idporten-loa-substantial"
    webchat_secret: str = ""  # reads the web chat's signed tickets (WEBCHAT_SECRET)
    webchat_url: str = "http://127.0.0.1:5005/webhooks/webchat/"  # the chat page citizens use
    extra: dict = field(default_factory=dict)

    @property
    def idporten_configured(self) -> bool:
        return bool(self.idporten_issuer and self.idporten_client_id and self.webchat_secret
                    and (self.idporten_client_secret or self.idporten_client_key_file))

    @property
    def twilio_configured(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token
                    and (self.twilio_from_number or self.twilio_messaging_service_sid))

    def __post_init__(self) -> None:
        if self.idporten_loa not in ("idporten-loa-substantial", "idporten-loa-high"):
            raise ValueError("IDPORTEN_LOA must be idporten-loa-substantial or "
                             f"idporten-loa-high, not {self.idporten_loa!r}")
        if self.environment not in DEV_ENVIRONMENTS and (self.dev_outbox
                                                         or self.allow_synthetic_fnr):
            raise ValueError("the dev outbox and synthetic fødselsnumre exist only in "
                             f"{' and '.join(DEV_ENVIRONMENTS)}, not in {self.environment}")

    @property
    def tracker_url(self) -> str:
        """Where Rasa keeps its conversations (as assistant/runtime.py tells Rasa)."""
        if self.tracker_db_url:
            return self.tracker_db_url
        if self.database_url.startswith("postgresql") and self.redis_url:
            return self.database_url
        return f"sqlite:///{self.var_dir / 'conversations.sqlite3'}"

    @property
    def is_production(self) -> bool:
        return self.environment not in DEV_ENVIRONMENTS

    @property
    def is_demo(self) -> bool:
        return self.environment in DEV_ENVIRONMENTS

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ,
                 required: tuple = PORTAL_SECRETS) -> "Settings":
        """Reads the environment. Secrets outside `required` may be absent (then empty): a
        process gets only the secrets it needs (assistant/runtime.py)."""
        environment = environment_of(env)
        production = environment not in DEV_ENVIRONMENTS
        var_dir = Path(env.get("ASSISTANT_VAR_DIR") or PROJECT_ROOT / "var")
        database_url = env.get("DATABASE_URL") or f"sqlite:///{var_dir / 'portal.sqlite3'}"
        if database_url.startswith("postgres://"):
            database_url = "postgresql://" + database_url[len("postgres://"):]

        def secret(name: str) -> str:
            if name in required:
                return secret_from(env, environment, var_dir, name)
            return env.get(name) or ""

        return cls(
            environment=environment,
            database_url=database_url,
            redis_url=env.get("REDIS_URL") or None,
            var_dir=var_dir,
            service_token=secret("PORTAL_SERVICE_TOKEN"),
            dispatch_token=secret("DISPATCH_TOKEN"),
            identity_key=secret("IDENTITY_HASH_KEY"),
            outbox_key=secret("OUTBOX_KEY"),
            port=int(env.get("PORTAL_PORT", "8000")),
            allow_synthetic_fnr=not production and _flag(env.get("ALLOW_SYNTHETIC_FNR"), True),
            dev_outbox=not production and _flag(env.get("DEV_SMS_OUTBOX"), True),
            print_deadline_working_hours=int(env.get("PRINT_DEADLINE_WORKING_HOURS", "40")),
            offer_answer_days=int(env.get("OFFER_ANSWER_DAYS", "10")),
            saving_per_digital_letter_ore=int(
                round(float(env.get("SAVING_PER_DIGITAL_LETTER_NOK", "22")) * 100)
            ),
            session_idle_minutes=int(env.get("SESSION_IDLE_MINUTES", "30")),
            login_response_floor_ms=int(env.get("LOGIN_RESPONSE_FLOOR_MS", "300")),
            otp_codes_per_number_per_day=int(env.get("OTP_CODES_PER_NUMBER_PER_DAY", "10")),
            otp_codes_per_conversation_per_hour=int(
                env.get("OTP_CODES_PER_CONVERSATION_PER_HOUR", "5")),
            otp_codes_per_source_per_hour=int(env.get("OTP_CODES_PER_SOURCE_PER_HOUR", "20")),
            otp_codes_global_per_minute=int(env.get("OTP_CODES_GLOBAL_PER_MINUTE", "60")),
            otp_codes_global_per_hour=int(env.get("OTP_CODES_GLOBAL_PER_HOUR", "1000")),
            personal_code_reset_hours=int(env.get("PERSONAL_CODE_RESET_HOURS", "24")),
            public_base_url=(env.get("PUBLIC_BASE_URL")
                             or f"http://127.0.0.1:{env.get('PORTAL_PORT', '8000')}").rstrip("/"),
            gateway_token=secret("GATEWAY_TOKEN"),
            sms_quiet_hours=_hours(env.get("SMS_QUIET_HOURS", "21-8")),
            staff_opening_hours=env.get("STAFF_OPENING_HOURS", "mon-fri 08:00-15:30"),
            twilio_account_sid=env.get("TWILIO_ACCOUNT_SID") or None,
            twilio_auth_token=env.get("TWILIO_AUTH_TOKEN") or None,
            twilio_from_number=env.get("TWILIO_FROM_NUMBER") or None,
            twilio_messaging_service_sid=env.get("TWILIO_MESSAGING_SERVICE_SID") or None,
            twilio_api_base_url=env.get("TWILIO_API_BASE_URL") or None,
            staff_session_secret=secret("STAFF_SESSION_SECRET"),
            staff_totp_key=secret("STAFF_TOTP_KEY"),
            staff_secure_cookies=_flag(env.get("STAFF_SECURE_COOKIES"), environment != "demo"),
            staff_setup_link_hours=int(env.get("STAFF_SETUP_LINK_HOURS", "24")),
            staff_idle_minutes=int(env.get("STAFF_IDLE_MINUTES", "30")),
            staff_claim_timeout_minutes=int(env.get("STAFF_CLAIM_TIMEOUT_MINUTES", "10")),
            conversation_retention_days=_days(env.get("CONVERSATION_RETENTION_DAYS") or "30"),
            tracker_db_url=env.get("TRACKER_DB_URL") or "",
            portal_public_url=(env.get("PORTAL_PUBLIC_URL")
                               or f"http://127.0.0.1:{env.get('PORTAL_PORT', '8000')}").rstrip("/"),
            metrics_token=env.get("METRICS_TOKEN") or "",
            idporten_issuer=(env.get("IDPORTEN_ISSUER") or "").rstrip("/") or None,
            idporten_client_id=env.get("IDPORTEN_CLIENT_ID") or None,
            idporten_client_secret=env.get("IDPORTEN_CLIENT_SECRET") or None,
            idporten_client_key_file=env.get("IDPORTEN_CLIENT_KEY_FILE") or None,
            idporten_client_key_id=env.get("IDPORTEN_CLIENT_KEY_ID") or None,
            idporten_loa=env.get("IDPORTEN_LOA") or "idporten-loa-substantial",
            webchat_secret=env.get("WEBCHAT_SECRET") or "",
            webchat_url=env.get("WEBCHAT_URL") or (
                f"http://127.0.0.1:{env.get('RASA_PORT', '5005')}/webhooks/webchat/"),
        )
