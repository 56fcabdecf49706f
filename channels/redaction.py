"""Removing fødselsnumre, one-time codes, personal codes and phone numbers from text, events and
log lines."""
from __future__ import annotations

from typing import Any, Dict

from portal import logredact
from portal.privacy import (CODE_MARK, FNR_MARK, QUOTES_CITIZEN, redact_citizen_text,
                            redact_reply, redact_text)

SECRET_ENTITIES = {"fnr": FNR_MARK, "otp_code": CODE_MARK}
# Slots whose values are needed as they are on the next turn and hold no personal data.
# No slot holds a secret: logins are known to the portal by conversation, not by token.
KEPT_SLOTS = {"letter_ids", "case_letter_id", "case_letter_number", "pending_case"}
# Slots filled with what the citizen wrote: masked the way their messages are.
CITIZEN_SLOTS = {"case_text"}


def _redact_parse_data(parse_data: Dict[str, Any]) -> Dict[str, Any]:
    """What the citizen wrote, as NLU read it: personal codes (4-8 digits) masked too."""
    parse_data = dict(parse_data)
    if isinstance(parse_data.get("text"), str):
        parse_data["text"] = redact_citizen_text(parse_data["text"])
    entities = []
    for entity in parse_data.get("entities") or []:
        entity = dict(entity)
        name = entity.get("entity")
        if name in SECRET_ENTITIES:
            entity["value"] = SECRET_ENTITIES[name]
        elif isinstance(entity.get("value"), str):
            entity["value"] = redact_citizen_text(entity["value"])
        entities.append(entity)
    parse_data["entities"] = entities
    return parse_data


def redact_event(event: Dict[str, Any]) -> Dict[str, Any]:
    """A copy of a serialised Rasa event with personal data masked."""
    event = dict(event)
    kind = event.get("event")
    if kind == "user" and isinstance(event.get("text"), str):
        event["text"] = redact_citizen_text(event["text"])
    if kind == "bot" and isinstance(event.get("text"), str):
        event["text"] = redact_reply(event["text"],
                                     bool((event.get("metadata") or {}).get(QUOTES_CITIZEN)))
    if kind == "user" and isinstance(event.get("parse_data"), dict):
        event["parse_data"] = _redact_parse_data(event["parse_data"])
    if kind == "entities":
        event["entities"] = _redact_parse_data({"entities": event.get("entities")})["entities"]
    if kind == "slot" and event.get("name") not in KEPT_SLOTS and isinstance(
            event.get("value"), str):
        event["value"] = (redact_citizen_text if event.get("name") in CITIZEN_SLOTS
                          else redact_text)(event["value"])
    return event


def install_log_redaction() -> None:
    """Every log record created from now on is masked (message, traceback, stack info)."""
    logredact.install()
