"""Dates, amounts and lists written for a citizen, per language."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Dict, List
from zoneinfo import ZoneInfo

OSLO = ZoneInfo("Europe/Oslo")

MONTHS = {
    "nb": ["januar", "februar", "mars", "april", "mai", "juni", "juli", "august",
           "september", "oktober", "november", "desember"],
    "nn": ["januar", "februar", "mars", "april", "mai", "juni", "juli", "august",
           "september", "oktober", "november", "desember"],
    "en": ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"],
}

WEEKDAYS = {
    "nb": ["mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag"],
    "nn": ["måndag", "tysdag", "onsdag", "torsdag", "fredag", "laurdag", "sundag"],
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
}

LABELS = {
    "due": {"nb": "forfall", "nn": "forfall", "en": "due"},
    "overdue": {"nb": "FORFALT", "nn": "FORFALLE", "en": "OVERDUE"},
    "paid": {"nb": "betalt", "nn": "betalt", "en": "paid"},
    "account": {"nb": "konto", "nn": "konto", "en": "account"},
    "unread": {"nb": "ny", "nn": "ny", "en": "new"},
    "kinds": {
        "barnehage": {"nb": "Barnehage", "nn": "Barnehage", "en": "Kindergarten"},
        "SFO": {"nb": "SFO", "nn": "SFO", "en": "After-school care (SFO)"},
        "kommunale avgifter": {"nb": "Kommunale avgifter", "nn": "Kommunale avgifter",
                               "en": "Municipal fees"},
        "eiendomsskatt": {"nb": "Eiendomsskatt", "nn": "Eigedomsskatt", "en": "Property tax"},
    },
}


def parse_date(value: str) -> date:
    if "T" in value:
        return datetime.fromisoformat(value).astimezone(OSLO).date()
    return date.fromisoformat(value)


def long_date(value: str, language: str) -> str:
    """'1. august 2027' / '1 August 2027'."""
    day = parse_date(value)
    month = MONTHS.get(language, MONTHS["nb"])[day.month - 1]
    if language == "en":
        return f"{day.day} {month} {day.year}"
    return f"{day.day}. {month} {day.year}"


def opening_time(value: str, language: str) -> str:
    """'mandag 30. november kl. 08:00' / 'on Monday 30 November at 08:00'."""
    moment = datetime.fromisoformat(value).astimezone(OSLO)
    weekday = WEEKDAYS.get(language, WEEKDAYS["nb"])[moment.weekday()]
    day = long_date(moment.date().isoformat(), language).rsplit(" ", 1)[0]  # without the year
    if language == "en":
        return f"on {weekday} {day} at {moment:%H:%M}"
    return f"{weekday} {day} kl. {moment:%H:%M}"


def short_date(value: str) -> str:
    day = parse_date(value)
    return f"{day.day:02d}.{day.month:02d}.{day.year}"


def account(number: str) -> str:
    return f"{number[:4]}.{number[4:6]}.{number[6:]}" if len(number) == 11 else number


def letter_lines(letters: List[Dict[str, Any]], language: str) -> str:
    """'1. Feievarsel for Fjellveien 12 (Bergen brannvesen, 25.11.2026) - ny'."""
    new = LABELS["unread"][language]
    return "\n".join(
        f"{n}. {item['title']} ({item['sender_unit']}, {short_date(item['sent_at'])})"
        + (f" - {new}" if item["unread"] else "")
        for n, item in enumerate(letters, start=1))


def invoice_lines(invoices: List[Dict[str, Any]], language: str) -> str:
    """One paragraph per invoice: what, amount, due date, KID and account."""
    lines = []
    for item in invoices:
        kind = LABELS["kinds"].get(item["kind"], {}).get(language, item["kind"])
        status = ""
        if item["status"] == "paid":
            status = f" ({LABELS['paid'][language]})"
        elif item["overdue"]:
            status = f" - {LABELS['overdue'][language]}"
        lines.append(
            f"{kind} {item['period']}: {item['amount_text']}, {LABELS['due'][language]} "
            f"{short_date(item['due_date'])}{status}\n"
            f"KID {item['kid']}, {LABELS['account'][language]} {account(item['account_number'])}")
    return "\n\n".join(lines)


def pieces(text: str, size: int = 600) -> List[str]:
    """A long text in pieces of at most `size` characters, cut between sentences or words."""
    text = " ".join(text.split())
    out: List[str] = []
    while len(text) > size:
        cut = max(text.rfind(". ", 0, size), text.rfind("! ", 0, size), text.rfind("? ", 0, size))
        cut = cut + 1 if cut > size // 3 else text.rfind(" ", 0, size)
        if cut <= 0:
            cut = size
        out.append(text[:cut].strip())
        text = text[cut:].strip()
    if text:
        out.append(text)
    return out
