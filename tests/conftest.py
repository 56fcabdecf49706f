"""Fixtures: the portal app on SQLite and on the real PostgreSQL, a frozen clock, demo data."""
from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from datetime import datetime, timezone
from typing import Callable, Dict

import pytest
from sqlalchemy import create_engine, inspect, text

from portal.app import create_app
from portal.clock import FrozenClock
from portal.config import Settings
from portal.conversation_ids import PREFIX_OF
from portal.migrate import upgrade
from portal.models import Channel, Citizen
from portal.services.demo import load_demo
from portal.services.sessions import start_session

PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
# `make test` runs the suite on two pytest-xdist workers: each gets Redis databases of its own
# (gw0: 15 and 13, gw1: 14 and 12); PostgreSQL schemas and ports are random anyway.
WORKER = int((os.environ.get("PYTEST_XDIST_WORKER") or "gw0")[2:] or 0)
REDIS_URL = os.environ.get("TEST_REDIS_URL", f"redis://127.0.0.1:6379/{15 - WORKER}")
E2E_REDIS_URL = os.environ.get("TEST_E2E_REDIS_URL", f"redis://127.0.0.1:6379/{13 - WORKER}")
BACKENDS = ["sqlite", "postgresql"]

# Tuesday 24 November 2026, 11:00 in Bergen: inside office hours.
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
SERVICE_TOKEN = "test-service-token"
DISPATCH_TOKEN = "test-dispatch-token"

KARI = "14838542035"
KARI_MOBILE = "+4791234567"
OLA = "02919016011"
AISHA = "23867830189"
PER = "07896221021"
NINA = "30819548001"
UNKNOWN = "11928824014"
# The demo citizens' personal codes (portal/demo/citizens.yaml); Per and Nina have none.
PERSONAL_CODES = {KARI: "2580", OLA: "4711", AISHA: "8642"}


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> str:
    """A migrated SQLite file, copied for every test."""
    path = tmp_path_factory.mktemp("db") / "template.sqlite3"
    engine = create_engine(f"sqlite:///{path}", future=True)
    upgrade(engine)
    engine.dispose()
    return str(path)


@contextlib.contextmanager
def fresh_schema(prefix: str):
    """A new PostgreSQL schema for as long as the block runs; yields a URL that uses it."""
    admin = create_engine(PG_URL, future=True, isolation_level="AUTOCOMMIT")
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_schema_url() -> str:
    """A private, migrated schema in the real PostgreSQL for this test run (and xdist worker)."""
    admin = create_engine(PG_URL, future=True, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # never skip: the suite needs the real database
        pytest.fail(f"PostgreSQL is not reachable at {PG_URL}: {exc}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    engine = create_engine(url, future=True)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _truncate_all(url: str) -> None:
    engine = create_engine(url, future=True)
    with engine.begin() as conn:
        tables = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
        conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables)
                          + " RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "portal.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_schema_url")
    _truncate_all(url)
    return url


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    return Settings(
        environment="test", database_url=database_url, var_dir=tmp_path,
        service_token=SERVICE_TOKEN, dispatch_token=DISPATCH_TOKEN,
        identity_key="test-identity-key", allow_synthetic_fnr=True, dev_outbox=True,
        login_response_floor_ms=0, staff_totp_key="test-staff-totp-key",
    )


@pytest.fixture
def app(settings, clock):
    app = create_app(settings, clock)
    app.config["TESTING"] = True
    yield app
    app.extensions["portal"].engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(app):
    """A database session outside any request, for arranging and checking state."""
    with app.extensions["portal"].sessions() as session:
        yield session


@pytest.fixture
def demo(app, clock) -> Dict[str, int]:
    """Loads the demo municipality; returns citizen ids by fødselsnummer."""
    portal = app.extensions["portal"]
    with portal.sessions() as session:
        load_demo(session, portal.settings, now=clock.now())
        session.commit()
        return {c.fnr: c.id for c in session.query(Citizen).all()}


@pytest.fixture
def service_headers() -> Dict[str, str]:
    return {"Authorization": f"Bearer {SERVICE_TOKEN}"}


@pytest.fixture
def dispatch_headers() -> Dict[str, str]:
    return {"Authorization": f"Bearer {DISPATCH_TOKEN}"}


@pytest.fixture
def login(app, clock, demo) -> Callable[..., Dict[str, str]]:
    """Opens a session for a demo citizen (as a completed code login would) and returns
    the headers the action server sends."""
    portal = app.extensions["portal"]

    def _login(fnr: str, channel: Channel = Channel.REST, conversation_id: str = "") -> Dict:
        # Conversation ids carry their channel's prefix, as the channels issue them.
        conversation_id = PREFIX_OF[channel.value] + (conversation_id or uuid.uuid4().hex[:8])
        with portal.sessions() as session:
            citizen = session.query(Citizen).filter_by(fnr=fnr).one()
            token, _ = start_session(session, citizen, channel=channel,
                                     conversation_id=conversation_id, now=clock.now(),
                                     idle_minutes=portal.settings.session_idle_minutes)
            session.commit()
        return {"Authorization": f"Bearer {SERVICE_TOKEN}", "X-Channel": channel.value,
                "X-Conversation-Id": conversation_id}

    return _login


@contextlib.contextmanager
def serve(app):
    """A WSGI app served over real HTTP on a free port, in a thread; yields its base URL."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def pytest_collection_modifyitems(items):
    """The slow tests (real Rasa servers, training) share session fixtures (the model, the
    running stacks): they run on one xdist worker, in order; the rest spread over the others."""
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.xdist_group("stack"))
