"""What the caseworker's case pages show beside each case: the citizen's name, the title of the
letter replied to, who answered and the answer letter."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Dict, Iterable, List, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Citizen, CitizenCase, Letter, StaffMember


@dataclass
class CaseDetail:
    case: CitizenCase
    citizen_name: str
    letter_title: Optional[str]
    answered_by: Optional[str]
    answer: Optional[Letter]

    def waited_minutes(self, at: datetime) -> int:
        """Minutes from the message to its answer, or until `at` while it is open."""
        end = self.case.answered_at or at
        return max(0, int((end - self.case.created_at).total_seconds() // 60))


def _by_id(db: Session, columns, ids: Iterable[Optional[int]]) -> Dict[int, object]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    key, value = columns
    return dict(db.execute(select(key, value).where(key.in_(sorted(wanted)))).all())


def details(db: Session, rows: List[CitizenCase], *, with_answer: bool = False
            ) -> List[CaseDetail]:
    """The rows with their names and titles, looked up in one query each."""
    names = _by_id(db, (Citizen.id, Citizen.name), (r.citizen_id for r in rows))
    titles = _by_id(db, (Letter.id, Letter.title), (r.reply_to_letter_id for r in rows))
    staff = _by_id(db, (StaffMember.id, StaffMember.name), (r.answered_by for r in rows))
    return [CaseDetail(row, names.get(row.citizen_id, ""), titles.get(row.reply_to_letter_id),
                       staff.get(row.answered_by),
                       db.get(Letter, row.answer_letter_id)
                       if with_answer and row.answer_letter_id else None)
            for row in rows]


def detail(db: Session, row: CitizenCase) -> CaseDetail:
    """One case with its names, titles and the answer letter."""
    return details(db, [row], with_answer=True)[0]
