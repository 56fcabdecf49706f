"""Safe defaults and secrets: production unless the demo is asked for, each process only its
own secrets, the Rasa token never on a command line."""
from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from assistant.runtime import PROCESSES, Runtime
from channels.rasa_main import server_kind, with_auth_token
from portal.app import create_app
from portal.config import PORTAL_SECRETS, PROJECT_ROOT, ConfigError, MissingSecret, Settings

SECRETS = {
    "PORTAL_SERVICE_TOKEN": "s-service-token-0123456789",
    "DISPATCH_TOKEN": "s-dispatch-token-0123456789",
    "IDENTITY_HASH_KEY": "s-identity-key-0123456789",
    "RASA_AUTH_TOKEN": "s-rasa-token-0123456789",
    "WEBCHAT_SECRET": "s-webchat-secret-0123456789",
    "GATEWAY_TOKEN": "s-gateway-token-0123456789",
    "OUTBOX_KEY": "s-outbox-key-0123456789",
    "STAFF_SESSION_SECRET": "s-staff-session-0123456789",
    "STAFF_TOTP_KEY": "s-staff-totp-key-0123456789",
    "ACTION_SERVER_TOKEN": "s-action-server-0123456789",
    "METRICS_TOKEN": "s-metrics-token-0123456789",
    "TWILIO_AUTH_TOKEN": "s-twilio-auth-0123456789",
    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
}
DB_PASSWORD = "s-db-password-0123456789"
REDIS_PASSWORD = "s-redis-password-0123456789"
# What each process may hold; everything else in SECRETS (and the passwords) it must not.
PORTAL_FAMILY = {"PORTAL_SERVICE_TOKEN", "DISPATCH_TOKEN", "IDENTITY_HASH_KEY", "GATEWAY_TOKEN",
                 "OUTBOX_KEY", "STAFF_SESSION_SECRET", "TWILIO_AUTH_TOKEN",
                 "TWILIO_ACCOUNT_SID", "METRICS_TOKEN", "db", "redis"}
NEEDS = {
    # Only the web app activates models on the Rasa servers and opens staff TOTP secrets:
    # the workers get neither key.
    "portal": PORTAL_FAMILY | {"RASA_AUTH_TOKEN", "STAFF_TOTP_KEY"},
    "sms-worker": PORTAL_FAMILY,
    "turn-worker": PORTAL_FAMILY,
    "actions": {"PORTAL_SERVICE_TOKEN", "ACTION_SERVER_TOKEN", "METRICS_TOKEN"},
    # Rasa reaches the action server and the portal's gateway API, and keeps conversations
    # in PostgreSQL with locks in Redis; no portal database secret, no Twilio secret.
    "rasa": {"RASA_AUTH_TOKEN", "WEBCHAT_SECRET", "GATEWAY_TOKEN", "ACTION_SERVER_TOKEN",
             "METRICS_TOKEN", "db", "redis"},
}


def production_env(tmp_path, **changes):
    env = {"ASSISTANT_VAR_DIR": str(tmp_path), **SECRETS,
           "DATABASE_URL": f"postgresql://app:{DB_PASSWORD}@127.0.0.1:5432/portal",
           "REDIS_URL": f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0",
           "PATH": "/usr/bin", "LANG": "C.UTF-8"}
    env.update(changes)
    return {k: v for k, v in env.items() if v is not None}


def test_production_is_the_default(tmp_path):
    settings = Settings.from_env(production_env(tmp_path, DEV_SMS_OUTBOX="1",
                                                ALLOW_SYNTHETIC_FNR="1"))
    assert settings.environment == "production" and settings.is_production
    assert not settings.dev_outbox and not settings.allow_synthetic_fnr
    assert Settings().environment == "production" and not Settings().dev_outbox
    runtime = Runtime.from_env(production_env(tmp_path))
    assert "rest" not in yaml.safe_load(runtime.credentials_file.read_text())
    assert not any("Rest" in name for name in yaml.safe_load(
        runtime.credentials_file.read_text()))


@pytest.mark.parametrize("name", [*PORTAL_SECRETS, "RASA_AUTH_TOKEN", "WEBCHAT_SECRET",
                                  "ACTION_SERVER_TOKEN", "METRICS_TOKEN"])
def test_production_without_a_secret_fails_naming_it(tmp_path, name):
    with pytest.raises(MissingSecret) as error:
        Runtime.from_env(production_env(tmp_path, **{name: None}))
    assert error.value.name == name and name in str(error.value)
    assert not (tmp_path / "secrets").exists()  # nothing generated in production


def test_an_unknown_environment_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="ASSISTANT_ENV"):
        Settings.from_env(production_env(tmp_path, ASSISTANT_ENV="staging"))


def test_production_settings_can_never_hold_the_demo_conveniences():
    with pytest.raises(ValueError):
        Settings(environment="production", dev_outbox=True)
    with pytest.raises(ValueError):
        Settings(allow_synthetic_fnr=True)


def test_the_demo_is_explicit_and_generates_what_is_missing(tmp_path):
    runtime = Runtime.from_env({"ASSISTANT_ENV": "demo", "ASSISTANT_VAR_DIR": str(tmp_path)})
    assert runtime.settings.dev_outbox and runtime.settings.allow_synthetic_fnr
    assert len(runtime.rasa_auth_token) >= 32 and len(runtime.settings.service_token) >= 32
    assert "channels.rest.DemoRestInput" in yaml.safe_load(runtime.credentials_file.read_text())


def test_the_demo_listens_on_the_loopback_only(tmp_path):
    everywhere = {"RASA_INTERFACE": "0.0.0.0", "PORTAL_INTERFACE": "0.0.0.0",
                  "ACTIONS_INTERFACE": "0.0.0.0"}
    demo = Runtime.from_env({"ASSISTANT_ENV": "demo", "ASSISTANT_VAR_DIR": str(tmp_path),
                             **everywhere})
    assert {demo.interface(v) for v in everywhere} == {"127.0.0.1"}
    assert demo.env_for("actions")["ACTIONS_HOST"] == "127.0.0.1"  # rasa_sdk's: 0.0.0.0
    production = Runtime.from_env(production_env(tmp_path, **everywhere))
    assert {production.interface(v) for v in everywhere} == {"0.0.0.0"}
    assert Runtime.from_env(production_env(tmp_path)).interface("RASA_INTERFACE") == "127.0.0.1"


def test_each_process_gets_only_its_own_secrets(tmp_path):
    runtime = Runtime.from_env(production_env(tmp_path))
    values = {**SECRETS, "db": DB_PASSWORD, "redis": REDIS_PASSWORD}
    assert runtime.child_env()  # what the supervisor itself uses (model training) ...
    held = {name for name, value in values.items()
            if any(value in v for v in runtime.child_env().values())}
    assert held == set()  # ... holds no secret at all
    for process in PROCESSES:
        env = runtime.env_for(process)
        held = {name for name, value in values.items() if any(value in v for v in env.values())}
        assert held == NEEDS[process], process
        assert env["ASSISTANT_ENV"] == "production" and env["PATH"] == "/usr/bin"


def test_the_rasa_token_is_added_inside_the_process_only():
    env = {"RASA_AUTH_TOKEN": "tok"}
    server = ["rasa", "run", "--model", "m", "--enable-api"]
    assert with_auth_token(server, env) == [*server, "--auth-token=tok"]
    # A generated token may start with "-": Rasa's own parser still reads it as the token.
    import argparse

    from rasa.cli.arguments.run import add_server_arguments

    parser = argparse.ArgumentParser()
    add_server_arguments(parser)
    dashed = with_auth_token(server, {"RASA_AUTH_TOKEN": "-of3x"})
    assert parser.parse_known_args(dashed[2:])[0].auth_token == "-of3x"
    actions = ["rasa", "run", "actions", "--port", "5055"]
    assert with_auth_token(actions, env) == actions
    assert with_auth_token(["rasa", "test", "core"], env) == ["rasa", "test", "core"]
    for argv in ([*server, "--auth-token=x"], [*server, "--auth-token", "x"]):
        with pytest.raises(SystemExit, match="RASA_AUTH_TOKEN"):
            with_auth_token(argv, env)
    assert (server_kind(server), server_kind(actions), server_kind(["rasa", "train"])) == (
        "server", "actions", "other")


def test_the_dev_outbox_does_not_exist_in_production(tmp_path):
    settings = Settings.from_env(production_env(
        tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'p.sqlite3'}", REDIS_URL=None))
    app = create_app(settings)
    try:
        client = app.test_client()
        for path in ("/dev/sms", "/dev/outbox", "/dev/sms?to=%2B4791234567"):
            response = client.get(path)
            assert response.status_code == 404, path
            assert response.json["error"]["code"] == "not_found"
        assert not [r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/dev")]
    finally:
        app.extensions["portal"].engine.dispose()


def test_the_command_line_names_the_missing_secret(tmp_path):
    env = production_env(tmp_path, PORTAL_SERVICE_TOKEN=None,
                         DATABASE_URL=f"sqlite:///{tmp_path / 'p.sqlite3'}", REDIS_URL=None)
    result = subprocess.run([sys.executable, "-m", "assistant.cli", "up"], env=env,
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Error: PORTAL_SERVICE_TOKEN must be set in production" in result.stderr
    assert "assistant up --demo" in result.stderr and "Traceback" not in result.stderr


def test_commands_that_need_no_secret_run_without_any(tmp_path):
    settings = Settings.from_env({"ASSISTANT_VAR_DIR": str(tmp_path)}, required=())
    assert settings.is_production and settings.service_token == ""
    assert not (tmp_path / "secrets").exists()


def test_demo_citizens_never_enter_a_production_database(tmp_path):
    env = production_env(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'p.sqlite3'}",
                         REDIS_URL=None)
    result = subprocess.run([sys.executable, "-m", "assistant.cli", "seed-demo"], env=env,
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "demo only" in result.stderr
    assert not (tmp_path / "p.sqlite3").exists()
