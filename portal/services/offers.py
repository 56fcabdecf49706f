"""Kindergarten place offers and the guardian's answer."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import List

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal.db import MAX_ID
from portal.errors import Conflict, InvalidInput, NotFound
from portal.models import Channel, KindergartenOffer, OfferStatus
from portal.services.audit import Actor, record

ANSWERS = {"accept": OfferStatus.ACCEPTED, "decline": OfferStatus.DECLINED}


@dataclass(frozen=True)
class AnswerResult:
    offer: KindergartenOffer
    already_answered: bool


def _expire_overdue(db: Session, citizen_id: int, now: datetime) -> None:
    db.execute(
        update(KindergartenOffer)
        .where(KindergartenOffer.citizen_id == citizen_id,
               KindergartenOffer.status == OfferStatus.OFFERED,
               KindergartenOffer.deadline < now)
        .values(status=OfferStatus.EXPIRED)
        .execution_options(synchronize_session=False)
    )


def list_offers(db: Session, citizen_id: int, *, actor: Actor, now: datetime,
                open_only: bool = False) -> List[KindergartenOffer]:
    """The guardian's offers, open ones first; offers past their deadline read as EXPIRED."""
    _expire_overdue(db, citizen_id, now)
    query = select(KindergartenOffer).where(KindergartenOffer.citizen_id == citizen_id)
    if open_only:
        query = query.where(KindergartenOffer.status == OfferStatus.OFFERED)
    rows = db.execute(query.order_by(KindergartenOffer.deadline, KindergartenOffer.id)).scalars()
    offers = sorted(rows, key=lambda o: o.status != OfferStatus.OFFERED)
    record(db, actor, "offer.list", at=now, citizen_id=citizen_id,
           detail={"count": len(offers)})
    return offers


def answer_offer(db: Session, citizen_id: int, offer_id: int, answer: str, *, via: Channel,
                 actor: Actor, now: datetime) -> AnswerResult:
    """Records the guardian's answer exactly once.

    Answering again the same way reports the earlier answer; a contradicting or late
    answer is refused. Under concurrent requests a conditional update decides the winner.
    """
    if answer not in ANSWERS:
        raise InvalidInput("Answer must be 'accept' or 'decline'.", code="invalid_answer")
    wanted = ANSWERS[answer]
    if not 0 < offer_id <= MAX_ID:
        raise NotFound("No such offer.", code="offer_not_found")
    offer = db.execute(select(KindergartenOffer).where(
        KindergartenOffer.id == offer_id, KindergartenOffer.citizen_id == citizen_id,
    )).scalar_one_or_none()
    if offer is None:
        raise NotFound("No such offer.", code="offer_not_found")
    if offer.status == OfferStatus.OFFERED and offer.deadline >= now:
        won = db.execute(
            update(KindergartenOffer)
            .where(KindergartenOffer.id == offer.id,
                   KindergartenOffer.status == OfferStatus.OFFERED)
            .values(status=wanted, answered_at=now, answered_via=via)
            .execution_options(synchronize_session=False)
        ).rowcount == 1
        db.refresh(offer)
        if won:
            record(db, actor, f"offer.{answer}", at=now, citizen_id=citizen_id,
                   object_type="kindergarten_offer", object_id=offer.id,
                   detail={"via": via.value})
            return AnswerResult(offer, already_answered=False)
    if offer.status == wanted:
        return AnswerResult(offer, already_answered=True)
    if offer.status in (OfferStatus.ACCEPTED, OfferStatus.DECLINED):
        raise Conflict("The offer was already answered differently.",
                       code="offer_already_answered",
                       details={"status": offer.status.value,
                                "answered_at": offer.answered_at.isoformat()})
    raise Conflict("The answer deadline has passed.", code="offer_deadline_passed",
                   details={"deadline": offer.deadline.isoformat()})
