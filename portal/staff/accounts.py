"""Staff accounts: creation with a one-time set-up link, passwords, TOTP, API tokens, disabling.

Passwords are argon2 hashes (rehashed when the parameters change), set-up links and API tokens
are kept only as SHA-256 hashes, a TOTP code is accepted once per time step, and failed logins
count towards a growing back-off per account and per client in the key-value store.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from typing import List, Optional, Tuple

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal.errors import Conflict, InvalidInput, NotFound, PortalError, RateLimited
from portal.errors import Unauthorized
from portal.kv import KeyValueStore
from portal.models import ActorType, StaffApiToken, StaffMember, StaffRole, StaffSetupLink
from portal.services.audit import Actor, record
from portal.services.login import backoff_seconds
from portal.staff import totp
from portal.staff.passwords import password_problem

hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so both cases cost the same.
_DUMMY_HASH = hasher.hash(secrets.token_urlsafe(16))

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TOKEN_PREFIX = "stf_"
FAILURE_MEMORY = 24 * 3600
PENDING_LOGIN = timedelta(minutes=5)


class LinkGone(PortalError):
    status = 410
    code = "setup_expired"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalize_email(text: str) -> str:
    email = (text or "").strip().lower()
    if len(email) > 254 or not EMAIL.match(email):
        raise InvalidInput("Not a valid e-mail address.", code="invalid_email")
    return email


def actor(member: StaffMember) -> Actor:
    """The audit actor for a staff member: the role as actor type, `staff:<id>` as id."""
    kind = ActorType.ADMIN if member.is_admin else ActorType.CASEWORKER
    return Actor(kind, f"staff:{member.id}", "staff")


CLI = Actor(ActorType.SYSTEM, "cli", "system")


def find(db: Session, email: str) -> Optional[StaffMember]:
    return db.execute(select(StaffMember).where(
        StaffMember.email == email.strip().lower())).scalar_one_or_none()


def get(db: Session, email: str) -> StaffMember:
    member = find(db, email)
    if member is None:
        raise NotFound("No staff member with that e-mail.", code="staff_not_found")
    return member


def list_staff(db: Session) -> List[StaffMember]:
    return list(db.execute(select(StaffMember).order_by(StaffMember.name)).scalars())


def add(db: Session, *, email: str, name: str, role: StaffRole, now: datetime,
        link_hours: int, by: Actor) -> Tuple[StaffMember, str]:
    """Creates an account (no password yet); returns it and its one-time set-up token."""
    email = normalize_email(email)
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InvalidInput("A name (at most 200 characters) is required.", code="invalid_name")
    if find(db, email) is not None:
        raise Conflict("A staff member with that e-mail exists.", code="staff_exists")
    member = StaffMember(email=email, name=name, role=StaffRole(role), session_epoch=0,
                         created_at=now)
    db.add(member)
    db.flush()
    token = _new_setup_link(db, member, now=now, hours=link_hours)
    record(db, by, "staff.add", at=now, object_type="staff", object_id=member.id,
           detail={"role": member.role.value})
    db.commit()
    return member, token


def _new_setup_link(db: Session, member: StaffMember, *, now: datetime, hours: int) -> str:
    token = secrets.token_urlsafe(32)
    db.add(StaffSetupLink(staff_id=member.id, token_hash=digest(token), created_at=now,
                          expires_at=now + timedelta(hours=hours)))
    return token


def setup_link(db: Session, token: str, *, now: datetime) -> StaffSetupLink:
    """The live set-up link a token names (unknown, used and expired links are refused)."""
    link = db.execute(select(StaffSetupLink).where(
        StaffSetupLink.token_hash == digest(token or ""))).scalar_one_or_none()
    if link is None or not link.staff.active:
        raise NotFound("Unknown set-up link.", code="setup_invalid")
    if link.used_at is not None:
        raise LinkGone("The set-up link has been used.", code="setup_used")
    if link.expires_at <= now:
        raise LinkGone("The set-up link has expired.", code="setup_expired")
    return link


def set_password(db: Session, link: StaffSetupLink, password: str, *,
                 now: datetime, totp_key: str) -> StaffMember:
    """Sets the password through a set-up link (using it up) and prepares TOTP enrolment."""
    member = link.staff
    problem = password_problem(password, member.email)
    if problem:
        raise InvalidInput("The password does not meet the rules.", code=problem)
    member.password_hash = hasher.hash(password)
    if member.totp_enrolled_at is None:
        member.totp_secret = totp.new_secret(totp_key)
    link.used_at = now
    record(db, actor(member), "staff.password_set", at=now, object_type="staff",
           object_id=member.id)
    db.commit()
    return member


def provisioning_uri(member: StaffMember, issuer: str, totp_key: str) -> str:
    return pyotp.TOTP(totp.secret_of(member, totp_key)).provisioning_uri(name=member.email,
                                                                         issuer_name=issuer)


def _check_totp(member: StaffMember, code: str, now: datetime, totp_key: str) -> None:
    step = totp.matching_step(member, code, now, totp_key)
    if step is None:
        raise Unauthorized("Wrong code.", code="wrong_code")
    if member.totp_last_step is not None and step <= member.totp_last_step:
        raise Unauthorized("That code has been used; wait for the next one.",
                           code="code_reused")
    member.totp_last_step = step
    totp.keep_sealed(member, totp_key)


def confirm_enrolment(db: Session, member: StaffMember, code: str, *, now: datetime,
                      totp_key: str) -> None:
    """Completes TOTP enrolment with a first code from the authenticator app."""
    try:
        _check_totp(member, code, now, totp_key)
    except Unauthorized:
        record(db, actor(member), "staff.enrol_failed", at=now, object_type="staff",
               object_id=member.id)
        db.commit()
        raise
    member.totp_enrolled_at = now
    record(db, actor(member), "staff.totp_enrolled", at=now, object_type="staff",
           object_id=member.id)
    db.commit()


# --- login -------------------------------------------------------------------------------

def _limit_keys(email: str, client: str) -> List[str]:
    return [f"staff:login:account:{digest(email.strip().lower())}",
            f"staff:login:client:{digest(client or '-')}"]


def check_backoff(store: KeyValueStore, email: str, client: str) -> None:
    """Refuses a login attempt while the account or the client must wait."""
    wait = max(store.ttl(key + ":wait") for key in _limit_keys(email, client))
    if wait > 0:
        raise RateLimited("Too many failed attempts; wait before trying again.",
                          code="login_backoff", details={"retry_after_seconds": wait})


def _note_failure(store: KeyValueStore, email: str, client: str) -> None:
    for key in _limit_keys(email, client):
        wait = backoff_seconds(store.incr(key, FAILURE_MEMORY))
        if wait:
            store.set(key + ":wait", "1", wait)


def _clear_failures(store: KeyValueStore, email: str) -> None:
    account = _limit_keys(email, "")[0]
    store.delete(account)
    store.delete(account + ":wait")


def _failed(db: Session, store: KeyValueStore, member: Optional[StaffMember], email: str,
            client: str, *, step: str, reason: str, now: datetime) -> None:
    _note_failure(store, email, client)
    who = actor(member) if member else Actor(ActorType.SYSTEM, "staff-login", "staff")
    record(db, who, "staff.login_failed", at=now, object_type="staff",
           object_id=member.id if member else None, detail={"step": step, "reason": reason})
    db.commit()


def check_password(db: Session, store: KeyValueStore, email: str, password: str, *,
                   client: str, now: datetime) -> StaffMember:
    """The first login step; the same answer for an unknown e-mail and a wrong password."""
    email = (email or "").strip().lower()
    check_backoff(store, email, client)
    member = find(db, email) if email else None
    stored = member.password_hash if member and member.password_hash else _DUMMY_HASH
    try:
        hasher.verify(stored, password or "")
        matches = stored is not _DUMMY_HASH
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        matches = False
    if not matches or not member.active:
        reason = "unknown_account" if member is None else (
            "disabled" if not member.active else "wrong_password")
        _failed(db, store, member, email, client, step="password", reason=reason, now=now)
        raise Unauthorized("Wrong e-mail or password.", code="wrong_credentials")
    if hasher.check_needs_rehash(member.password_hash):
        member.password_hash = hasher.hash(password)
        db.commit()
    return member


def check_code(db: Session, store: KeyValueStore, member: StaffMember, code: str, *,
               client: str, now: datetime, totp_key: str) -> None:
    """The second login step: a TOTP code not used before; completes the login."""
    check_backoff(store, member.email, client)
    try:
        _check_totp(member, code, now, totp_key)
    except Unauthorized as exc:
        db.rollback()
        _failed(db, store, member, member.email, client, step="totp", reason=exc.code,
                now=now)
        raise
    _clear_failures(store, member.email)
    member.last_login_at = now
    record(db, actor(member), "staff.login", at=now, object_type="staff", object_id=member.id)
    db.commit()


# --- API tokens and disabling -----------------------------------------------------------

def issue_token(db: Session, member: StaffMember, *, now: datetime, by: Actor) -> str:
    """A new API token for an active account; only its hash is stored."""
    if not member.active:
        raise Conflict("The account is disabled.", code="staff_disabled")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = StaffApiToken(staff_id=member.id, token_hash=digest(token), created_at=now)
    db.add(row)
    db.flush()
    record(db, by, "staff.token_issued", at=now, object_type="staff_token", object_id=row.id,
           detail={"staff_id": member.id})
    db.commit()
    return token


def token_owner(db: Session, token: str, *, now: datetime) -> Optional[StaffMember]:
    """The active staff member a live API token belongs to, or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = db.execute(select(StaffApiToken).where(
        StaffApiToken.token_hash == digest(token))).scalar_one_or_none()
    if row is None or row.revoked_at is not None or not row.staff.active:
        return None
    if row.last_used_at is None or now - row.last_used_at >= timedelta(minutes=1):
        row.last_used_at = now
        db.commit()
    return row.staff


def disable(db: Session, member: StaffMember, *, now: datetime, by: Actor) -> None:
    """Ends the account: every session (a new epoch), every token and unused set-up link."""
    if not member.active:
        raise Conflict("The account is already disabled.", code="staff_disabled")
    member.disabled_at = now
    member.session_epoch += 1
    db.execute(update(StaffApiToken)
               .where(StaffApiToken.staff_id == member.id, StaffApiToken.revoked_at.is_(None))
               .values(revoked_at=now).execution_options(synchronize_session=False))
    db.execute(update(StaffSetupLink)
               .where(StaffSetupLink.staff_id == member.id, StaffSetupLink.used_at.is_(None))
               .values(used_at=now).execution_options(synchronize_session=False))
    record(db, by, "staff.disable", at=now, object_type="staff", object_id=member.id)
    db.commit()
