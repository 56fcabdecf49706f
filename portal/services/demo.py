"""Loading the demo municipality (portal/demo/citizens.yaml), idempotently."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Dict, List

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.config import Settings
from portal.identity import normalize_account, normalize_fnr, normalize_kid, normalize_mobile
from portal.models import (
    Channel,
    Citizen,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    KindergartenOffer,
    Language,
    Letter,
    LetterCategory,
    LetterStatus,
    OfferStatus,
    Property,
)
from portal.services import personal_codes
from portal.services.audit import Actor, record
from portal.services.invoices import local_today
from portal.services.letters import print_deadline

DEMO_FILE = Path(__file__).resolve().parent.parent / "demo" / "citizens.yaml"


@dataclass
class SeedReport:
    created: List[str] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)


def load_demo(db: Session, settings: Settings, *, now: datetime,
              path: Path = DEMO_FILE) -> SeedReport:
    """Creates every demo citizen that does not exist yet; dates are relative to `now`."""
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    account = normalize_account(spec["municipality"]["account_number"])
    today = local_today(now, settings.timezone)
    actor = Actor.system("seed-demo")
    report = SeedReport()
    for person in spec["citizens"]:
        fnr = normalize_fnr(person["fnr"], allow_synthetic=True)
        if db.execute(select(Citizen.id).where(Citizen.fnr == fnr)).first():
            report.skipped.append(person["name"])
            continue
        citizen = Citizen(
            fnr=fnr, name=person["name"],
            mobile=normalize_mobile(person["mobile"]) if person.get("mobile") else None,
            language=Language(person.get("language", "nb")),
            krr_reserved=bool(person.get("krr_reserved")), created_at=now,
        )
        db.add(citizen)
        db.flush()
        if person.get("personal_code"):
            personal_codes.set_code(db, citizen, str(person["personal_code"]), actor=actor,
                                    now=now)
        for item in person.get("properties") or []:
            citizen.properties.append(_property(db, item))
        for item in person.get("letters") or []:
            db.add(_letter(settings, citizen, item, now))
        for item in person.get("kindergarten_offers") or []:
            db.add(_offer(citizen, item, now))
        for item in person.get("invoices") or []:
            db.add(_invoice(citizen, item, today, account, now))
        record(db, actor, "citizen.create", at=now, citizen_id=citizen.id,
               object_type="citizen", object_id=citizen.id)
        report.created.append(person["name"])
    db.flush()
    return report


def _property(db: Session, item: Dict[str, Any]) -> Property:
    key = dict(kommunenr=str(item["kommunenr"]), gnr=int(item["gnr"]), bnr=int(item["bnr"]),
               festenr=int(item.get("festenr") or 0), seksjonsnr=int(item.get("seksjonsnr") or 0))
    existing = db.execute(select(Property).filter_by(**key)).scalar_one_or_none()
    return existing or Property(address=item["address"], **key)


def _letter(settings: Settings, citizen: Citizen, item: Dict[str, Any], now: datetime) -> Letter:
    sent_at = now - timedelta(days=item["sent_days_ago"])
    due = sent_at if citizen.krr_reserved else print_deadline(settings, sent_at)
    letter = Letter(
        citizen_id=citizen.id, sender_unit=item["sender"], title=item["title"],
        body=item["body"], category=LetterCategory(item["category"]),
        status=LetterStatus.MOTTATT, sent_at=sent_at, print_due_at=due,
    )
    if item.get("printed"):
        letter.status = LetterStatus.PRINTET
        letter.sent_to_print_at = letter.printed_at = due
    elif item.get("read"):
        letter.status = LetterStatus.LEST
        letter.read_at = min(sent_at + timedelta(hours=2), now)
        letter.read_via = Channel.PORTAL
    return letter


def _offer(citizen: Citizen, item: Dict[str, Any], now: datetime) -> KindergartenOffer:
    return KindergartenOffer(
        citizen_id=citizen.id, child_name=item["child_name"],
        child_birth_date=date.fromisoformat(str(item["child_birth_date"])),
        kindergarten=item["kindergarten"],
        start_date=date.fromisoformat(str(item["start_date"])),
        offered_at=now - timedelta(days=item["offered_days_ago"]),
        deadline=now + timedelta(days=item["deadline_in_days"]),
        status=OfferStatus(item.get("status", "OFFERED")),
    )


def _invoice(citizen: Citizen, item: Dict[str, Any], today: date, account: str,
             now: datetime) -> Invoice:
    status = InvoiceStatus(item.get("status", "unpaid"))
    due = today + timedelta(days=item["due_in_days"])
    return Invoice(
        citizen_id=citizen.id, kind=InvoiceKind(item["kind"]), period=str(item["period"]),
        amount_ore=int(item["amount_ore"]), due_date=due, kid=normalize_kid(item["kid"]),
        account_number=account, status=status,
        paid_at=now - timedelta(days=1) if status == InvoiceStatus.PAID else None,
    )
