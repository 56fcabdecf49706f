"""ID-porten's settings: the client secret and the ticket key reach the portal web app only."""
from assistant.runtime import PROCESSES, Runtime
from tests.integration.test_security_config import production_env

IDPORTEN = {"IDPORTEN_ISSUER": "https://idporten.no", "IDPORTEN_CLIENT_ID": "kommune-chat",
            "IDPORTEN_CLIENT_SECRET": "s-idporten-client-secret-0123"}


def test_only_the_portal_web_app_holds_the_client_secret_and_ticket_key(tmp_path):
    runtime = Runtime.from_env(production_env(tmp_path, **IDPORTEN))
    assert runtime.settings.idporten_loa == "idporten-loa-substantial"
    for process in PROCESSES:
        env = runtime.env_for(process)
        holds = "IDPORTEN_CLIENT_SECRET" in env
        assert holds == (process == "portal"), process
        assert ("WEBCHAT_SECRET" in env) == (process in ("portal", "rasa")), process
    portal = runtime.env_for("portal")
    assert portal["WEBCHAT_SECRET"] == runtime.webchat_secret
    assert runtime.env_for("rasa")["IDPORTEN_LOGIN_URL"].endswith("/idporten/login")


def test_without_a_client_secret_there_is_no_login_button(tmp_path):
    env = production_env(tmp_path, **{**IDPORTEN, "IDPORTEN_CLIENT_SECRET": None})
    runtime = Runtime.from_env(env)
    assert not runtime.idporten
    assert "IDPORTEN_LOGIN_URL" not in runtime.env_for("rasa")
    assert "WEBCHAT_SECRET" not in runtime.env_for("portal")


def test_the_level_of_assurance_is_configurable(tmp_path):
    runtime = Runtime.from_env(production_env(tmp_path, **IDPORTEN,
                                              IDPORTEN_LOA="idporten-loa-high"))
    assert runtime.settings.idporten_loa == "idporten-loa-high"


def test_an_unknown_level_of_assurance_stops_the_start(tmp_path):
    import pytest

    with pytest.raises(ValueError, match="IDPORTEN_LOA"):
        Runtime.from_env(production_env(tmp_path, **IDPORTEN, IDPORTEN_LOA="idporten-loa-low"))
