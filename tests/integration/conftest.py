"""Integration tests: our code against the real portal, PostgreSQL, Redis and HTTP, one process
at a time (the root conftest builds the portal on SQLite and PostgreSQL). Here: the portal
served over real HTTP for the action server's client."""
import pytest

from tests.conftest import SERVICE_TOKEN, serve


@pytest.fixture
def live_portal(app):
    """The portal app served over real HTTP, for the action server's client."""
    with serve(app) as url:
        yield url


@pytest.fixture
def actions_portal(live_portal, monkeypatch):
    """Points the action server's portal client at the live test portal."""
    from actions.portal_client import portal

    monkeypatch.setattr(portal, "base_url", live_portal)
    monkeypatch.setattr(portal, "token", SERVICE_TOKEN)
    monkeypatch.setattr(portal, "_http", None)
    return portal
