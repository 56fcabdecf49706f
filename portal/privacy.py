"""Masking fødselsnumre, one-time codes and phone numbers in free text."""
from __future__ import annotations

import re

FNR = re.compile(r"(?<![\d])\d{6}\s?\d{5}(?!\d)")
PHONE = re.compile(r"(?<![\d+])(?:(?:\+|00)47\s?)?[49](?:\s?\d){7}(?!\d)")
CODE = re.compile(r"(?<!\d)\d{3}\s?\d{3}(?!\d)")

FNR_MARK, PHONE_MARK, CODE_MARK = "[fødselsnummer]", "[telefon]", "[kode]"


def redact_text(text: str) -> str:
    """Masks anything shaped like a fødselsnummer, a Norwegian mobile number or a 6-digit code."""
    if not text or not any(ch.isdigit() for ch in text):
        return text
    text = FNR.sub(FNR_MARK, text)
    text = PHONE.sub(PHONE_MARK, text)
    return CODE.sub(CODE_MARK, text)
