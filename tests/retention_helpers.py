"""Arranging old conversations (portal rows, Rasa trackers, log files) and searching every
place their content could live, for the retention and deletion tests."""
from __future__ import annotations

import dataclasses
from functools import lru_cache
from pathlib import Path
from typing import List
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import create_engine, inspect, select, text

from channels.tracker_store import RedactingSQLTrackerStore
from portal.config import PROJECT_ROOT


@lru_cache(maxsize=1)
def domain():
    from rasa.shared.core.domain import Domain

    return Domain.load(str(PROJECT_ROOT / "bot" / "domain"))


def tracker_store(url: str) -> RedactingSQLTrackerStore:
    """Our Rasa tracker store on an SQLAlchemy URL (SQLite file or PostgreSQL schema)."""
    if url.startswith("sqlite"):
        return RedactingSQLTrackerStore(domain(), dialect="sqlite", db=url[len("sqlite:///"):])
    parts = urlparse(url)
    return RedactingSQLTrackerStore(
        domain(), dialect="postgresql", host=parts.hostname, port=parts.port or 5432,
        db=parts.path.lstrip("/"), username=parts.username, password=parts.password,
        query={"options": parse_qs(parts.query)["options"][0]})


@pytest.fixture
def tracker_url(database_url, tmp_path) -> str:
    """Rasa's tracker database next to the portal's: the same PostgreSQL schema (production),
    or the SQLite file under var/ (embedded)."""
    if database_url.startswith("postgresql"):
        engine = create_engine(database_url, future=True)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS events"))
        engine.dispose()
        return database_url
    return f"sqlite:///{tmp_path / 'conversations.sqlite3'}"


@pytest.fixture
def retention_settings(settings, tracker_url):
    return dataclasses.replace(settings, tracker_db_url=tracker_url)


async def save_turns(store, sender: str, texts: List[str], at: float, *,
                     new_session: bool = True) -> None:
    """Appends a session (when asked) and one user message and bot reply per text, at `at`
    (epoch seconds), through Rasa's own tracker API."""
    from rasa.shared.core.events import (ActionExecuted, BotUttered, SessionStarted,
                                         UserUttered)

    tracker = await store.retrieve(sender)
    if tracker is None:
        from rasa.shared.core.trackers import DialogueStateTracker

        tracker = DialogueStateTracker(sender, domain().slots)
    if new_session:
        tracker.update(ActionExecuted("action_session_start", timestamp=at))
        tracker.update(SessionStarted(timestamp=at))
        tracker.update(ActionExecuted("action_listen", timestamp=at))
    for offset, said in enumerate(texts):
        tracker.update(UserUttered(said, {"name": "greet", "confidence": 1.0},
                                   timestamp=at + offset))
        tracker.update(BotUttered(f"svar på {said}", timestamp=at + offset))
        tracker.update(ActionExecuted("action_listen", timestamp=at + offset))
    await store.save(tracker)


def found_in_database(url: str, needle: str) -> List[str]:
    """Every table.column of the database whose stored value contains `needle`."""
    engine = create_engine(url, future=True)
    hits = []
    try:
        with engine.connect() as conn:
            for name in inspect(conn).get_table_names():
                for row in conn.execute(select(text("*")).select_from(text(f'"{name}"'))):
                    for column, value in row._mapping.items():
                        if value is not None and needle.lower() in str(value).lower():
                            hits.append(f"{name}.{column}")
    finally:
        engine.dispose()
    return hits


def found_in_logs(log_dir: Path, needle: str) -> List[str]:
    """Log files holding `needle` as written or JSON-escaped (any case)."""
    import json

    forms = {needle.lower(), json.dumps(needle)[1:-1].lower()}
    return [p.name for p in log_dir.rglob("*") if p.is_file()
            and any(f in p.read_bytes().decode("utf-8", "replace").lower() for f in forms)]
