"""End to end over SMS on the real stacks (production: PostgreSQL holding the portal and Rasa's
trackers, Redis, Twilio stand-in; embedded: SQLite files, dev outbox), with Rasa, the action
server, turn and SMS workers: a logged-in citizen writes SLETT SAMTALEN MIN, confirms with JA,
and what they wrote is nowhere any more: not in the portal's tables, not in Rasa's tracker
events, not in any log file; they are logged out. `assistant up` ran the purge at start."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import PER
from tests.retention_helpers import found_in_database, found_in_logs
from tests.e2e.test_e2e_sms import Phone

pytestmark = pytest.mark.slow

PER_MOBILE = "+4741234000"  # no other end-to-end test writes from Per's phone
SECRET = "Kvitebjornen Tassen bor bak garasjen"
WORD = "Kvitebjornen"


def places(stack, word: str) -> list:
    """Every table.column of the portal and tracker databases and every log file with `word`."""
    settings = stack.runtime.settings
    return (found_in_database(settings.database_url, word)
            + found_in_database(settings.tracker_url, word)
            + found_in_logs(settings.var_dir / "logs", word))


@pytest.mark.parametrize("stack_name", ["production_stack", "embedded_stack"])
def test_slett_samtalen_min_then_ja_leaves_the_text_nowhere(request, stack_name):
    stack = request.getfixturevalue(stack_name)
    per = Phone(stack, PER_MOBILE)
    stack.reset_demo()
    per.send("logg inn", "fødselsnummer")
    before = len(stack.sms_to(PER_MOBILE))
    per.send(PER, "personlige koden")
    per.send("INGEN", "Hvis fødselsnummeret og den personlige koden stemmer")  # none yet
    code = re.search(r"\b(\d{6})\b",
                     stack.wait_for_sms(PER_MOBILE, "Engangskoden", after=before)["body"])[1]
    assert "Velg en personlig kode" in per.send(code, "Hei, Per")
    per.send("4826", "lagret")
    per.send(SECRET, "")
    settings = stack.runtime.settings
    assert found_in_database(settings.database_url, WORD)  # the transcript, ...
    assert found_in_database(settings.tracker_url, WORD)  # ... and Rasa's tracker
    assert found_in_logs(settings.var_dir / "logs", WORD)  # Rasa's debug log

    assert "Vil du slette denne samtalen?" in per.send("slett samtalen min", "Vil du slette")
    done = per.send("ja", "Samtalen din er slettet")
    assert "du er logget ut" in done
    assert places(stack, WORD) == []
    assert "fødselsnummer" in per.send("faktura", "fødselsnummer")  # logged out
    assert places(stack, WORD) == []

    engine = create_engine(settings.database_url, future=True)
    with engine.connect() as conn:
        actions = set(conn.execute(text("SELECT action FROM audit_events")).scalars())
    engine.dispose()
    assert {"conversation.erase", "retention.purge", "session.end"} <= actions
