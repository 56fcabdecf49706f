"""Masking fødselsnumre, one-time codes, personal codes and phone numbers in free text."""
from __future__ import annotations

import re

# 11 digits, optionally grouped as a date and a personal number: 14838542035, 148385 42035,
# 010190-12345, 01.01.90 12345, 01-01-90-12345.
FNR = re.compile(r"(?<![\d.+])\d{2}([.\-/]?)\d{2}\1\d{2}[\s.\-]?\d{5}(?![\d])")
PHONE = re.compile(r"(?<![\d+])(?:(?:\+|00)47\s?)?[49](?:\s?\d){7}(?!\d)")
# Any other country's number written internationally: +46 70 123 45 67, 0044 7911 123456.
FOREIGN_PHONE = re.compile(r"(?<![\d+])(?:\+|00)[1-9]\d{0,2}(?:[\s\-]?\d){6,12}(?!\d)")
CODE = re.compile(r"(?<!\d)\d{3}\s?\d{3}(?!\d)")
# A personal code is 4 to 8 digits; in what a citizen writes any such run may be one.
PERSONAL_CODE = re.compile(r"(?<![\d\[])\d{4,8}(?!\d)")

# Twilio's resource ids (SM…, MM…, AC…, MG…: two letters and 32 hex digits) name messages in
# our own log lines; their digit runs are no personal data, and masking them would hide which
# message a line is about. Only log lines keep them; what a citizen wrote never does.
TWILIO_SID = re.compile(r"\b(?:SM|MM|AC|MG)[0-9a-f]{32}\b")

FNR_MARK, PHONE_MARK, CODE_MARK = "[fødselsnummer]", "[telefon]", "[kode]"


def redact_log_text(text: str) -> str:
    """`redact_text` for our own log lines: Twilio resource ids stay readable."""
    if not text or not any(ch.isdigit() for ch in text):
        return text
    pieces, last = [], 0
    for sid in TWILIO_SID.finditer(text):
        pieces += [redact_text(text[last:sid.start()]), sid.group()]
        last = sid.end()
    pieces.append(redact_text(text[last:]))
    return "".join(pieces)


def redact_text(text: str) -> str:
    """Masks anything shaped like a fødselsnummer, a mobile number or a 6-digit code."""
    if not text or not any(ch.isdigit() for ch in text):
        return text
    text = FNR.sub(FNR_MARK, text)
    text = PHONE.sub(PHONE_MARK, text)
    text = FOREIGN_PHONE.sub(PHONE_MARK, text)
    return CODE.sub(CODE_MARK, text)


# Marks a bot reply that repeats what the citizen wrote (utterance metadata, reply field).
QUOTES_CITIZEN = "quotes_citizen"


def redact_reply(text: str, quotes_citizen: bool) -> str:
    """A bot reply: masked as the citizen's own text when it quotes them."""
    return (redact_citizen_text if quotes_citizen else redact_text)(text)


def redact_citizen_text(text: str) -> str:
    """What a citizen wrote: as `redact_text`, and every run of 4 to 8 digits (a personal code
    looks like a year or a house number; the citizen's text is masked the safe way)."""
    text = redact_text(text)
    if not text or not any(ch.isdigit() for ch in text):
        return text
    return PERSONAL_CODE.sub(CODE_MARK, text)
