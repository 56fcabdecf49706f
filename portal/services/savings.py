"""What digital delivery saves: letters read digitally versus sent to print, per month."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.db import month_of
from portal.money import format_nok
from portal.models import Letter, LetterStatus

PRINTED = (LetterStatus.SENDT_PRINT, LetterStatus.PRINTET)


@dataclass(frozen=True)
class MonthSavings:
    month: str
    read_digitally: int
    printed: int
    saving_ore: int

    @property
    def saving_text(self) -> str:
        return format_nok(self.saving_ore)

    @property
    def digital_share(self) -> float:
        total = self.read_digitally + self.printed
        return self.read_digitally / total if total else 0.0


def monthly_savings(db: Session, *, saving_per_letter_ore: int,
                    tz: str = "Europe/Oslo") -> List[MonthSavings]:
    """Counts per calendar month of the read event (digital) or the print order (paper)."""
    dialect = db.get_bind().dialect.name
    counts: Dict[str, List[int]] = {}
    read_month = month_of(Letter.read_at, dialect, tz)
    for month, n in db.execute(select(read_month, func.count())
                               .where(Letter.status == LetterStatus.LEST)
                               .group_by(read_month)):
        counts.setdefault(month, [0, 0])[0] += n
    print_month = month_of(func.coalesce(Letter.sent_to_print_at, Letter.sent_at), dialect, tz)
    for month, n in db.execute(select(print_month, func.count())
                               .where(Letter.status.in_(PRINTED))
                               .group_by(print_month)):
        counts.setdefault(month, [0, 0])[1] += n
    return [MonthSavings(month, digital, printed, digital * saving_per_letter_ore)
            for month, (digital, printed) in sorted(counts.items())]
