"""Telling a citizen by SMS that failed guesses locked their SMS-code login, so that a
stranger who keeps them out is noticed (the lock itself stays short; ID-porten still works)."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy.orm import Session

from portal.config import Settings
from portal.kv import Attempt, AttemptRules
from portal.models import ActorType, Citizen, Language
from portal.services.audit import Actor, record
from portal.sms import outbox

LOCKED_SMS = {
    Language.NB: "Innloggingen med SMS-kode hos {municipality} er sperret i {hours} time etter "
                 "mange feil forsøk. Var det ikke deg, trenger du ikke gjøre noe. Du kan logge "
                 "inn med ID-porten i chatten.",
    Language.NN: "Innlogginga med SMS-kode hos {municipality} er sperra i {hours} time etter "
                 "mange feil forsøk. Var det ikkje deg, treng du ikkje gjere noko. Du kan logge "
                 "inn med ID-porten i chatten.",
    Language.EN: "The SMS-code login at {municipality} is locked for {hours} hour after many "
                 "failed attempts. If it was not you, you need not do anything. You can log in "
                 "with ID-porten in the chat.",
}
CLOSED_SMS = {
    Language.NB: "Innloggingen med SMS-kode hos {municipality} er stengt etter {failures} feil "
                 "forsøk på rad. Logg inn med ID-porten i chatten for å åpne den igjen.",
    Language.NN: "Innlogginga med SMS-kode hos {municipality} er stengd etter {failures} feil "
                 "forsøk på rad. Logg inn med ID-porten i chatten for å opne ho igjen.",
    Language.EN: "The SMS-code login at {municipality} is closed after {failures} failed "
                 "attempts in a row. Log in with ID-porten in the chat to open it again.",
}


def lock_set_by(attempt: Attempt, rules: AttemptRules) -> Optional[str]:
    """'closed' or 'locked' when this (failed) guess is the one that set the lock, else None."""
    if rules.close_after and attempt.failures == rules.close_after:
        return "closed"
    if attempt.failures == rules.lock_after:
        return "locked"
    return None


def tell_citizen(db: Session, settings: Settings, citizen_id: Optional[int],
                 attempt: Attempt, rules: AttemptRules, *, channel: str, now: datetime) -> None:
    """Queues the SMS to the registered mobile when this failed guess locked the account."""
    kind = lock_set_by(attempt, rules)
    citizen = db.get(Citizen, citizen_id) if kind and citizen_id is not None else None
    if citizen is None or not citizen.mobile:
        return
    texts = CLOSED_SMS if kind == "closed" else LOCKED_SMS
    body = texts[citizen.language].format(municipality=settings.municipality_name,
                                          hours=max(1, rules.lock_seconds // 3600),
                                          failures=attempt.failures)
    outbox.enqueue(db, to=citizen.mobile, body=body, purpose="notice", now=now,
                   citizen_id=citizen.id, deliver=settings.twilio_configured)
    record(db, Actor(ActorType.SYSTEM, "login", channel), "login.lock_notice", at=now,
           citizen_id=citizen.id, detail={"kind": kind, "failures": attempt.failures})
