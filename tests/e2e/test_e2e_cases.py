"""End to end over SMS on the production stack (PostgreSQL, Redis, Rasa, turn and SMS workers,
Twilio stand-in): Kari writes to the municipality as a reply to a letter, sees her words
restated, sends them with JA; the case reaches the staff queue as she wrote it while Rasa's
store keeps only redacted text; a caseworker's answer reaches her inbox and her phone. A
second message, refused with NEI, is sent nowhere."""
from __future__ import annotations

import re

import pytest
import requests

from tests.conftest import KARI, KARI_MOBILE, PERSONAL_CODES
from tests.e2e.test_e2e_sms import Phone, db_row
from tests.e2e.test_e2e_workspace import enrolled
from tests.retention_helpers import found_in_database

pytestmark = pytest.mark.slow

MESSAGE = ("Hei! Jeg er ikke hjemme torsdag, kan feiingen flyttes til fredag? "
           "Ring meg gjerne, referanse 73920461.")


def test_kari_replies_to_a_letter_and_a_caseworker_answers(production_stack, e2e_pg_url):
    stack, kari = production_stack, Phone(production_stack, KARI_MOBILE)
    stack.reset_demo()
    kari.send("logg inn", "fødselsnummer")
    kari.send(KARI, "personlige koden")
    before = len(stack.sms_to(KARI_MOBILE))
    kari.send(PERSONAL_CODES[KARI], "Hvis fødselsnummeret og den personlige koden stemmer")
    code = re.search(r"\b(\d{6})\b",
                     stack.wait_for_sms(KARI_MOBILE, "Engangskoden", after=before)["body"])[1]
    kari.send(code, "Hei, Kari")
    listing = kari.send("brev", "LES 1")
    first_title = re.search(r"^1\. (.+) \(", listing, re.MULTILINE)[1]

    assert "brev 1" in kari.send("svar på brev 1", "Skriv svaret ditt")
    restated = kari.send(MESSAGE, "Skal den sendes?")
    # The SMS carries «» as plain quotes (GSM 7-bit: one segment costs less).
    assert f'som svar på "{first_title}"' in restated and "kan feiingen flyttes" in restated
    (drafts,) = db_row(e2e_pg_url, "SELECT count(*) FROM citizen_cases WHERE status = 'draft'")
    assert drafts == 1
    kari.send("ja", "Meldingen er sendt")

    case = db_row(e2e_pg_url, "SELECT c.id, c.status, c.body, c.channel, l.title "
                  "FROM citizen_cases c JOIN letters l ON l.id = c.reply_to_letter_id")
    case_id, status, body, channel, title = case
    assert (status, body, channel, title) == ("open", MESSAGE, "sms", first_title)
    settings = stack.runtime.settings
    # Her words as written are the case's; the transcript and Rasa's events hold them redacted.
    places = set(found_in_database(settings.database_url, "73920461")
                 + found_in_database(settings.tracker_url, "73920461"))
    assert "citizen_cases.body" in places
    assert not {p for p in places if p.startswith(("events.", "transcript_messages."))}
    assert "events.data" in found_in_database(settings.tracker_url, "feiingen flyttes")

    _, staff = enrolled(stack, "case-e2e@bergen.kommune.no", "Siri Saksbehandler")
    queue = requests.get(f"{stack.runtime.portal_url}/api/v1/staff/cases", headers=staff,
                         timeout=10).json()["cases"]
    assert [(c["id"], c["body"]) for c in queue] == [(case_id, MESSAGE)]
    before = len(stack.sms_to(KARI_MOBILE))
    answered = requests.post(f"{stack.runtime.portal_url}/api/v1/staff/cases/{case_id}/answer",
                             headers=staff, timeout=10,
                             json={"text": "Feiingen er flyttet til fredag 4. desember."})
    assert answered.status_code == 200, answered.text
    stack.wait_for_sms(KARI_MOBILE, "brev", after=before)  # the inbox notice
    assert "flyttet til fredag" in kari.send("les", "flyttet til fredag")

    # NEI: the draft is deleted, nothing reaches the queue.
    assert "AVBRYT" in kari.send("skriv til kommunen", "Skriv meldingen din")
    kari.send("Glem dette", "Skal den sendes?")
    kari.send("nei", "ingenting er sendt")
    (cases,) = db_row(e2e_pg_url, "SELECT count(*) FROM citizen_cases")
    assert cases == 1
