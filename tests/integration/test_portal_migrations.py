"""Alembic migrations: from an empty database to head and back, on SQLite and PostgreSQL."""
from __future__ import annotations

import uuid

import pytest
from alembic.script import ScriptDirectory
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from portal import models  # noqa: F401  (registers every table on Base.metadata)
from portal.db import Base
from portal.migrate import alembic_config, downgrade, upgrade
from tests.conftest import PG_URL

HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request, tmp_path):
    """An engine on an empty database: a new SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}", future=True)
        yield engine
        engine.dispose()
        return
    admin = create_engine(PG_URL, future=True, isolation_level="AUTOCOMMIT")
    schema = f"m_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(f"{PG_URL}?options=-csearch_path%3D{schema}", future=True)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _tables(engine) -> set:
    return set(inspect(engine).get_table_names())


def _differences(engine) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "compare_server_default": True})
        return compare_metadata(context, Base.metadata)


def _append_only_triggers(engine) -> set:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return set(conn.execute(text(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' "
                "AND tbl_name = 'audit_events'")).scalars())
        return set(conn.execute(text(
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
            "AND tgrelid = 'audit_events'::regclass")).scalars())


def _revision(engine):
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_upgrade_downgrade_upgrade(empty_engine):
    expected = set(Base.metadata.tables)
    assert len(expected) >= 11
    assert _tables(empty_engine) == set()

    upgrade(empty_engine)
    assert _tables(empty_engine) == expected | {"alembic_version"}
    assert _revision(empty_engine) == HEAD
    assert _differences(empty_engine) == []
    assert _append_only_triggers(empty_engine)

    downgrade(empty_engine)
    assert _tables(empty_engine) <= {"alembic_version"}
    assert _revision(empty_engine) is None
    if empty_engine.dialect.name == "postgresql":
        with empty_engine.connect() as conn:
            assert conn.execute(text(
                "SELECT count(*) FROM pg_proc WHERE proname = 'audit_events_append_only' "
                "AND pronamespace = current_schema()::regnamespace")).scalar_one() == 0

    upgrade(empty_engine)
    assert _tables(empty_engine) == expected | {"alembic_version"}
    assert _differences(empty_engine) == []
    assert _append_only_triggers(empty_engine)


def test_upgrading_twice_is_harmless(empty_engine):
    upgrade(empty_engine)
    upgrade(empty_engine)
    assert _revision(empty_engine) == HEAD
    assert _differences(empty_engine) == []
