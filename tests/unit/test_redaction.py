"""Masking personal data in text, Rasa events, trackers and log records."""
import logging

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from channels.redaction import install_log_redaction, redact_event, redact_text
from channels.tracker_store import redacted


@pytest.mark.parametrize("text, expected", [
    ("14838542035", "[fødselsnummer]"),
    ("fnr 148385 42035 takk", "fnr [fødselsnummer] takk"),
    ("koden er 123456", "koden er [kode]"),
    ("123 456", "[kode]"),
    ("ring +47 91234567", "ring [telefon]"),
    ("0047 412 34 000", "[telefon]"),
    ("fnr 010190-12345", "fnr [fødselsnummer]"),
    ("født 01.01.90 12345", "født [fødselsnummer]"),
    ("ring +46 70 123 45 67", "ring [telefon]"),
    ("ring +447911123456 nå", "ring [telefon] nå"),
    ("0044 7911 123456", "[telefon]"),
    ("møte 01.12.2026 kl 12.30", "møte 01.12.2026 kl 12.30"),
    ("les 2", "les 2"),
    ("KID 202701148385000113", "KID 202701148385000113"),
    ("Ring 55 56 00 00", "Ring 55 56 00 00"),
    ("sak 2026/4711", "sak 2026/4711"),
])
def test_redact_text(text, expected):
    assert redact_text(text) == expected


def test_user_event_text_parse_data_and_entities_are_masked():
    event = UserUttered("mitt fnr er 14838542035", {"name": "inform", "confidence": 0.9},
                        [{"entity": "fnr", "value": "14838542035", "start": 12, "end": 23}],
                        parse_data={"text": "mitt fnr er 14838542035",
                                    "intent": {"name": "inform"},
                                    "entities": [{"entity": "fnr", "value": "14838542035"}]})
    masked = redact_event(event.as_dict())
    assert "14838542035" not in str(masked)
    assert masked["parse_data"]["entities"][0]["value"] == "[fødselsnummer]"
    assert masked["parse_data"]["intent"]["name"] == "inform"


@pytest.mark.parametrize("text, expected", [
    ("2580", "[kode]"), ("personlig kode 31415926", "personlig kode [kode]"),
    ("koden min er 4711 takk", "koden min er [kode] takk"), ("les 12", "les 12"),
    ("123", "123"), ("123456789", "123456789"),
])
def test_a_personal_code_a_citizen_writes_is_masked_in_events(text, expected):
    from portal.privacy import redact_citizen_text

    assert redact_citizen_text(text) == expected
    event = UserUttered(text, {"name": "inform", "confidence": 0.9}, [],
                        parse_data={"text": text, "intent": {"name": "inform"},
                                    "entities": []})
    masked = redact_event(event.as_dict())
    assert masked["text"] == masked["parse_data"]["text"] == expected


def test_the_bot_s_own_figures_are_not_masked_as_personal_codes():
    masked = redact_event(BotUttered("Fristen er 1. august 2027.").as_dict())
    assert masked["text"] == "Fristen er 1. august 2027."


def test_no_slot_of_the_bot_holds_a_login_secret():
    from channels.redaction import KEPT_SLOTS
    from portal.config import PROJECT_ROOT

    slots = Domain.load(str(PROJECT_ROOT / "bot" / "domain")).as_dict()["slots"]
    assert not [name for name in slots if "token" in name or "session" in name]
    assert slots["logged_in"]["type"] == "bool"
    # Kept verbatim: ids and list numbers of letters and of a draft, no personal data.
    assert KEPT_SLOTS == {"letter_ids", "case_letter_id", "case_letter_number", "pending_case"}
    assert redact_event(SlotSet("first_name", "123456").as_dict())["value"] == "[kode]"


def test_redacted_tracker_keeps_events_and_slots():
    domain = Domain.from_dict({"slots": {"letter_ids": {
        "type": "list", "mappings": [{"type": "custom"}]}}})
    tracker = DialogueStateTracker.from_events("s", [
        UserUttered("koden er 654321", {"name": "inform"}),
        SlotSet("letter_ids", [123456, 7]),
        BotUttered("Hei, Kari!"),
    ], domain.slots)
    copy = redacted(tracker, domain)
    assert len(copy.events) == len(tracker.events)
    assert copy.get_slot("letter_ids") == [123456, 7]
    assert copy.latest_message.text == "koden er [kode]"
    assert tracker.latest_message.text == "koden er 654321"  # the live tracker is untouched


def test_log_records_are_masked(caplog):
    factory = logging.getLogRecordFactory()
    install_log_redaction()
    try:
        with caplog.at_level(logging.INFO):
            logging.getLogger("t").info("user %s sent %s", "14838542035", "kode 123456")
    finally:
        logging.setLogRecordFactory(factory)
    assert caplog.records[-1].getMessage() == "user [fødselsnummer] sent kode [kode]"


def test_a_reply_quoting_the_citizen_and_their_message_slot_are_masked_as_their_text():
    quoting = BotUttered("Du skriver til kommunen: «ref 73920461, kode 4826» Skal den sendes?",
                         metadata={"quotes_citizen": True}).as_dict()
    assert "73920461" not in redact_event(quoting)["text"]
    assert "4826" not in redact_event(quoting)["text"]
    plain = BotUttered("Fakturaen forfaller 25.11.2026, konto 1503.12.34567").as_dict()
    assert redact_event(plain)["text"] == plain["text"]  # the bot's own figures stay
    written = redact_event(SlotSet("case_text", "ref 73920461 og koden 4826").as_dict())
    assert written["value"] == "ref [kode] og koden [kode]"
    for name in ("case_letter_id", "pending_case"):  # ids read again on the next turn
        assert redact_event(SlotSet(name, "123456").as_dict())["value"] == "123456"
