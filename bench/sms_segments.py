"""SMS segments per bot reply: every response of the domain, in every language, rendered with
Kari Nordmann's demo data and formatted for SMS exactly as the SMS channel formats it.

    .venv/bin/python -m bench.sms_segments

Prints the distribution and the median; the target is a median of 1 segment.
"""
from __future__ import annotations

import json
import statistics
from collections import Counter

from actions.formatting import invoice_lines, letter_lines
from actions.responses import render
from portal.sms import gsm as sms
from tests.bot_harness import domain

LETTERS = [
    {"title": "Feievarsel for Fjellveien 12", "sender_unit": "Bergen brannvesen",
     "sent_at": "2026-11-25T10:00:00+00:00", "unread": True},
    {"title": "Tilbud om barnehageplass til Emma", "sender_unit": "Etat for barnehage",
     "sent_at": "2026-11-24T10:00:00+00:00", "unread": True},
    {"title": "Vedtak i byggesak 2026/4711 - rammetillatelse",
     "sender_unit": "Plan- og bygningsetaten", "sent_at": "2026-11-23T10:00:00+00:00",
     "unread": True},
    {"title": "Velkommen til Din side", "sender_unit": "Bergen kommune",
     "sent_at": "2026-10-17T10:00:00+00:00", "unread": False},
]
INVOICES = [
    {"kind": "barnehage", "period": "2026-11", "amount_text": "3 315,00 kr",
     "due_date": "2026-12-06", "kid": "202701148385000113", "account_number": "15031234562",
     "status": "unpaid", "overdue": False},
    {"kind": "kommunale avgifter", "period": "2026-T4", "amount_text": "4 980,50 kr",
     "due_date": "2026-12-16", "kid": "202701148385000287", "account_number": "15031234562",
     "status": "unpaid", "overdue": False},
]


def values(language: str) -> dict:
    return {
        "first_name": "Kari", "child": "Emma", "kindergarten": "Solstrålen barnehage",
        "start_date": "1. august 2027", "deadline": "4. desember 2026", "count": 3,
        "letters": letter_lines(LETTERS, language), "invoices": invoice_lines(INVOICES, language),
        "total": "8 295,50 kr", "title": LETTERS[0]["title"], "sender": "Bergen brannvesen",
        "date": "25. november 2026", "number": 7, "attempts_left": 4,
        "retry_after_minutes": 15, "answer_text": "takket ja",
    }


def main() -> None:
    segments = {}
    for name in sorted(domain()["responses"]):
        for language in ("nb", "nn", "en"):
            text = render(domain(), name, language, **values(language))["text"]
            head, _rest = sms.fit(sms.sanitize(text), 3, language)
            segments[f"{name}/{language}"] = sms.count_segments(head)
    counts = Counter(segments.values())
    median = statistics.median(segments.values())
    print(f"{len(segments)} replies (responses x languages); segments: "
          + ", ".join(f"{n}: {counts[n]}" for n in sorted(counts)) + f"; median {median:g}")
    for key, n in sorted(segments.items(), key=lambda item: -item[1])[:8]:
        print(f"  {n}  {key}")
    print(json.dumps({"median": median, "distribution": dict(counts)}))


if __name__ == "__main__":
    main()
