"""End-to-end tests: the real processes (portal, action server, Rasa servers, workers) on their
real stores, a trained model, the Twilio stand-in, and Chromium. The stacks are session-wide
and shared by every test that needs one."""
import os

import pytest

from portal.migrate import upgrade
from portal.services.demo import load_demo
from tests.conftest import E2E_REDIS_URL, fresh_schema


@pytest.fixture(scope="session")
def trained_model() -> "Path":
    """The bot model for the current training data (trained once, kept under var/models)."""
    from assistant.model import ensure_model
    from portal.config import PROJECT_ROOT

    return ensure_model(PROJECT_ROOT / "var" / "models")


@pytest.fixture(scope="session")
def e2e_pg_url() -> str:
    """A fresh PostgreSQL schema for a running assistant (portal tables and conversations)."""
    with fresh_schema("e2e") as url:
        yield url


@pytest.fixture(scope="session")
def e2e_redis_url() -> str:
    import redis

    url = E2E_REDIS_URL
    try:
        redis.Redis.from_url(url).flushdb()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is not reachable at {url}: {exc}")
    return url


@pytest.fixture(scope="session")
def twilio_cloud():
    """The local stand-in for Twilio's cloud, checking requests against Twilio's OpenAPI."""
    from tests.twilio_standin import TwilioStandIn

    with TwilioStandIn(auth_token="e2e-twilio-auth-token") as standin:
        yield standin


@pytest.fixture(scope="session")
def production_stack(tmp_path_factory, trained_model, e2e_pg_url, e2e_redis_url, twilio_cloud):
    """The real assistant on PostgreSQL and Redis (production stores), with SMS through the
    Twilio stand-in; the demo channels (REST) are on for the tests."""
    from tests.stack import RunningAssistant

    var_dir = tmp_path_factory.mktemp("stack-pg")
    env = {**os.environ, "DATABASE_URL": e2e_pg_url, "REDIS_URL": e2e_redis_url,
           "ASSISTANT_ENV": "demo", "TWILIO_ACCOUNT_SID": twilio_cloud.account_sid,
           "TWILIO_AUTH_TOKEN": twilio_cloud.auth_token, "TWILIO_FROM_NUMBER": "+4759440000",
           "TWILIO_API_BASE_URL": twilio_cloud.base_url,
           "SMS_QUIET_HOURS": "off",  # the real clock: notices must not wait for 08:00
           "LOG_FORMAT": "json"}  # production's log lines
    assistant = RunningAssistant(var_dir, trained_model, env, twilio=twilio_cloud)
    _seed(assistant)
    yield assistant.start()
    assistant.stop()


@pytest.fixture(scope="session")
def embedded_stack(tmp_path_factory, trained_model):
    """The real assistant on its embedded defaults: SQLite files, in-process stores."""
    from tests.stack import RunningAssistant

    var_dir = tmp_path_factory.mktemp("stack-sqlite")
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL") and not k.startswith("TWILIO_")}
    # Webhooks are signed, but no Twilio account: replies land in the dev outbox.
    env.update(ASSISTANT_ENV="demo", TWILIO_AUTH_TOKEN="embedded-twilio-auth-token")
    assistant = RunningAssistant(var_dir, trained_model, env)
    _seed(assistant)
    yield assistant.start()
    assistant.stop()


def _seed(assistant) -> None:
    from portal.bootstrap import Portal
    from portal.clock import Clock

    portal = Portal(assistant.runtime.settings, Clock())
    upgrade(portal.engine)
    with portal.sessions() as session:
        load_demo(session, portal.settings, now=portal.clock.now())
        session.commit()
    portal.engine.dispose()
