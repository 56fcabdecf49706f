"""Database engine and sessions, SQLAlchemy 1.4 in 2.0 style."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, MetaData, create_engine, event, func
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator
from sqlalchemy.orm import declarative_base, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Base = declarative_base(metadata=MetaData(naming_convention=NAMING_CONVENTION))

# Integer primary keys are 32-bit on PostgreSQL: a larger id names no row (and SQLite cannot
# even bind an id past 64 bits), so look-ups by an id from outside check it first.
MAX_ID = 2 ** 31 - 1


def make_engine(url: str) -> Engine:
    """Creates an engine; SQLite gets foreign keys, WAL and a busy timeout."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, future=True, hide_parameters=True, connect_args={"check_same_thread": False, "timeout": 30}
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            # Let SQLAlchemy issue BEGIN itself so that BEGIN IMMEDIATE below works.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()
            dbapi_connection.create_function("local_month", 2, _local_month,
                                             deterministic=True)

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # No pre-ping (a round trip per checkout); connections are recycled instead.
    # hide_parameters: errors and logs never carry bound values (fødselsnumre, phone numbers).
    return create_engine(url, future=True, hide_parameters=True, pool_recycle=1800, pool_size=5, max_overflow=5)


def make_session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(bind=engine, future=True, expire_on_commit=False)


class UTCDateTime(TypeDecorator):
    """An aware datetime stored as UTC; read back aware on every backend (SQLite drops tzinfo)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Optional[datetime], dialect) -> Optional[datetime]:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Optional[datetime], dialect) -> Optional[datetime]:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def _local_month(value: Optional[str], tz: str) -> Optional[str]:
    """SQLite's local_month(): the month in `tz` of a UTC timestamp stored as text."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value).replace(tzinfo=timezone.utc)
    return moment.astimezone(ZoneInfo(tz)).strftime("%Y-%m")


def month_of(column, dialect_name: str, tz: str):
    """A SQL expression for the local calendar month ('YYYY-MM') of a UTCDateTime column."""
    if dialect_name == "postgresql":
        return func.to_char(func.timezone(tz, column), "YYYY-MM")
    return func.local_month(column, tz)  # registered on every SQLite connection above
