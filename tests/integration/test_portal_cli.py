"""The `assistant` command line against the test database (SQLite and PostgreSQL)."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from assistant.cli import main
from portal.models import Citizen, Letter, LetterStatus


@pytest.fixture
def cli(database_url, tmp_path, monkeypatch, clock):
    """Runs `assistant ...` with DATABASE_URL on the test database and the frozen clock."""
    monkeypatch.setattr("portal.bootstrap.Clock", lambda: clock)
    env = {"DATABASE_URL": database_url, "ASSISTANT_ENV": "test",
           "ASSISTANT_VAR_DIR": str(tmp_path / "cli-var")}
    runner = CliRunner()

    def run(*args: str):
        result = runner.invoke(main, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    return run


def _status(app, title: str) -> LetterStatus:
    with app.extensions["portal"].sessions() as s:
        return s.execute(select(Letter.status).where(Letter.title == title)).scalar_one()


def test_print_due_uses_the_deadline(cli, app, demo, clock):
    assert cli("print-due").strip() == "0 letter(s) sent to print."

    # Kari's two weekend letters are due Friday 27 November 16:00 in Oslo.
    clock.at = datetime(2026, 11, 27, 14, 59, tzinfo=timezone.utc)
    assert cli("print-due").strip() == "0 letter(s) sent to print."
    assert _status(app, "Tilbud om barnehageplass til Emma") == LetterStatus.MOTTATT

    clock.advance(minutes=1)
    assert cli("print-due").strip() == "2 letter(s) sent to print."
    assert _status(app, "Tilbud om barnehageplass til Emma") == LetterStatus.SENDT_PRINT
    assert _status(app, "Vedtak i byggesak 2026/4711 - rammetillatelse") == \
        LetterStatus.SENDT_PRINT
    assert _status(app, "Feievarsel for Fjellveien 12") == LetterStatus.MOTTATT
    assert _status(app, "Velkommen til Din side") == LetterStatus.LEST

    assert cli("print-due").strip() == "0 letter(s) sent to print."


def test_savings_prints_a_table(cli, demo):
    output = cli("savings").splitlines()

    assert output[0].split() == ["Month", "Digital", "Printed", "Share", "Saving"]
    rows = {line.split()[0]: line for line in output[1:-1]}
    assert set(rows) == {"2026-10", "2026-11"}
    assert rows["2026-10"].split()[:4] == ["2026-10", "1", "0", "100%"]
    assert rows["2026-10"].rstrip().endswith("22,00 kr")
    assert rows["2026-11"].split()[:4] == ["2026-11", "1", "1", "50%"]
    assert output[-1] == "Total saving: 44,00 kr (22,00 kr per letter read digitally)"


def test_seed_demo_is_idempotent(cli, app):
    assert cli("seed-demo").strip() == "Demo data: 5 citizens created, 0 already there."
    assert cli("seed-demo").strip() == "Demo data: 0 citizens created, 5 already there."
    with app.extensions["portal"].sessions() as s:
        assert s.execute(select(func.count()).select_from(Citizen)).scalar_one() == 5


def test_migrate_reports_an_up_to_date_database(cli):
    assert re.fullmatch(r"Database is up to date\.\s*", cli("migrate"))
