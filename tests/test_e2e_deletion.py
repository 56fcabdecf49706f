"""End to end over SMS on the real stack (PostgreSQL holding the portal and Rasa's trackers,
Redis, Rasa, action server, turn and SMS workers, Twilio stand-in): a logged-in citizen writes
SLETT SAMTALEN MIN, confirms with JA, and what they wrote is nowhere any more: not in the
portal's tables, not in Rasa's tracker events, not in any log file; they are logged out."""
from __future__ import annotations

import re

import pytest

from tests.conftest import KARI, KARI_MOBILE
from tests.retention_helpers import found_in_database, found_in_logs
from tests.test_e2e_sms import Phone

pytestmark = pytest.mark.slow

SECRET = "Kvitebjornen Tassen bor bak garasjen"
WORD = "Kvitebjornen"


def test_slett_samtalen_min_then_ja_leaves_the_text_nowhere(production_stack, e2e_pg_url):
    stack, kari = production_stack, Phone(production_stack, KARI_MOBILE)
    stack.reset_demo()
    kari.send("logg inn", "fødselsnummer")
    before = len(stack.sms_to(KARI_MOBILE))
    kari.send(KARI, "Hvis nummeret er registrert")
    code = re.search(r"\b(\d{6})\b",
                     stack.wait_for_sms(KARI_MOBILE, "Engangskoden", after=before)["body"])[1]
    kari.send(code, "Hei, Kari")
    kari.send(SECRET, "")
    assert found_in_database(e2e_pg_url, WORD)  # the transcript, the tracker, ...
    log_dir = stack.runtime.settings.var_dir / "logs"

    assert "Vil du slette denne samtalen?" in kari.send("slett samtalen min", "Vil du slette")
    done = kari.send("ja", "Samtalen din er slettet")
    assert "du er logget ut" in done

    assert found_in_database(e2e_pg_url, WORD) == []
    assert found_in_logs(log_dir, WORD) == []
    assert "fødselsnummer" in kari.send("faktura", "fødselsnummer")  # logged out
    assert found_in_database(e2e_pg_url, WORD) == []
