"""The portal's tables: the citizens' system of record."""
from __future__ import annotations

import enum
from datetime import date, datetime
from typing import List, Optional

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, relationship

from portal.db import Base, UTCDateTime
from portal.money import format_nok


def _enum(cls: type, name: str) -> Enum:
    """A portable enum column storing the member's value."""
    return Enum(cls, name=name, native_enum=False, length=20,
                values_callable=lambda members: [m.value for m in members],
                validate_strings=True)


class Language(str, enum.Enum):
    NB = "nb"
    NN = "nn"
    EN = "en"


class Channel(str, enum.Enum):
    SMS = "sms"
    WEBCHAT = "webchat"
    PORTAL = "portal"
    REST = "rest"


class LetterCategory(str, enum.Enum):
    VEDTAK = "vedtak"
    VARSEL = "varsel"
    BARNEHAGE = "barnehage"
    GENERELL = "generell"


class LetterStatus(str, enum.Enum):
    """KS SvarUt's lifecycle of a dispatched letter."""

    MOTTATT = "MOTTATT"
    VARSLET = "VARSLET"
    LEST = "LEST"
    SENDT_PRINT = "SENDT_PRINT"
    PRINTET = "PRINTET"


UNREAD_STATUSES = (LetterStatus.MOTTATT, LetterStatus.VARSLET)


class OfferStatus(str, enum.Enum):
    OFFERED = "OFFERED"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    EXPIRED = "EXPIRED"


class InvoiceKind(str, enum.Enum):
    BARNEHAGE = "barnehage"
    SFO = "SFO"
    KOMMUNALE_AVGIFTER = "kommunale avgifter"
    EIENDOMSSKATT = "eiendomsskatt"


class InvoiceStatus(str, enum.Enum):
    UNPAID = "unpaid"
    PAID = "paid"


class ActorType(str, enum.Enum):
    CITIZEN = "citizen"
    CASEWORKER = "caseworker"
    ADMIN = "admin"
    SYSTEM = "system"


property_owners = Table(
    "property_owners",
    Base.metadata,
    Column("citizen_id", ForeignKey("citizens.id", ondelete="CASCADE"), primary_key=True),
    Column("property_id", ForeignKey("properties.id", ondelete="CASCADE"), primary_key=True),
)


class Citizen(Base):
    __tablename__ = "citizens"

    id: Mapped[int] = Column(Integer, primary_key=True)
    fnr: Mapped[str] = Column(String(11), nullable=False, unique=True)
    name: Mapped[str] = Column(String(200), nullable=False)
    mobile: Mapped[Optional[str]] = Column(String(16), index=True)
    language: Mapped[Language] = Column(_enum(Language, "language"), nullable=False,
                                        default=Language.NB)
    krr_reserved: Mapped[bool] = Column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)

    properties: Mapped[List["Property"]] = relationship(
        "Property", secondary=property_owners, back_populates="owners"
    )

    @property
    def first_name(self) -> str:
        return self.name.split()[0]


class PersonalCode(Base):
    """A citizen's personal code (the SMS-code login's second factor): an argon2 hash, and a
    pending reset that takes effect at `reset_due_at` unless cancelled."""

    __tablename__ = "personal_codes"

    citizen_id: Mapped[int] = Column(ForeignKey("citizens.id", ondelete="CASCADE"),
                                     primary_key=True)
    code_hash: Mapped[str] = Column(String(255), nullable=False)
    set_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    reset_requested_at: Mapped[Optional[datetime]] = Column(UTCDateTime())
    reset_due_at: Mapped[Optional[datetime]] = Column(UTCDateTime())


class Letter(Base):
    __tablename__ = "letters"
    __table_args__ = (
        Index("ix_letters_citizen_status_sent", "citizen_id", "status", "sent_at"),
        Index("ix_letters_print_due", "status", "print_due_at"),
        UniqueConstraint("sender_unit", "external_id", name="uq_letters_sender_external"),
    )

    id: Mapped[int] = Column(Integer, primary_key=True)
    citizen_id: Mapped[int] = Column(ForeignKey("citizens.id", ondelete="CASCADE"),
                                     nullable=False)
    sender_unit: Mapped[str] = Column(String(200), nullable=False)
    external_id: Mapped[Optional[str]] = Column(String(100))
    title: Mapped[str] = Column(String(300), nullable=False)
    body: Mapped[str] = Column(Text, nullable=False)
    category: Mapped[LetterCategory] = Column(_enum(LetterCategory, "letter_category"),
                                              nullable=False)
    status: Mapped[LetterStatus] = Column(_enum(LetterStatus, "letter_status"),
                                          nullable=False, default=LetterStatus.MOTTATT)
    sent_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    print_due_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    notified_at: Mapped[Optional[datetime]] = Column(UTCDateTime())
    read_at: Mapped[Optional[datetime]] = Column(UTCDateTime())
    read_via: Mapped[Optional[Channel]] = Column(_enum(Channel, "channel"))
    sent_to_print_at: Mapped[Optional[datetime]] = Column(UTCDateTime())
    printed_at: Mapped[Optional[datetime]] = Column(UTCDateTime())

    @property
    def is_unread(self) -> bool:
        return self.read_at is None


class KindergartenOffer(Base):
    __tablename__ = "kindergarten_offers"

    id: Mapped[int] = Column(Integer, primary_key=True)
    citizen_id: Mapped[int] = Column(ForeignKey("citizens.id", ondelete="CASCADE"),
                                     nullable=False, index=True)
    child_name: Mapped[str] = Column(String(200), nullable=False)
    child_birth_date: Mapped[date] = Column(Date, nullable=False)
    kindergarten: Mapped[str] = Column(String(200), nullable=False)
    start_date: Mapped[date] = Column(Date, nullable=False)
    offered_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    deadline: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    status: Mapped[OfferStatus] = Column(_enum(OfferStatus, "offer_status"), nullable=False,
                                         default=OfferStatus.OFFERED)
    answered_at: Mapped[Optional[datetime]] = Column(UTCDateTime())
    answered_via: Mapped[Optional[Channel]] = Column(_enum(Channel, "channel"))


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (Index("ix_invoices_citizen_status_due", "citizen_id", "status", "due_date"),)

    id: Mapped[int] = Column(Integer, primary_key=True)
    citizen_id: Mapped[int] = Column(ForeignKey("citizens.id", ondelete="CASCADE"),
                                     nullable=False)
    kind: Mapped[InvoiceKind] = Column(_enum(InvoiceKind, "invoice_kind"), nullable=False)
    period: Mapped[str] = Column(String(20), nullable=False)
    amount_ore: Mapped[int] = Column(BigInteger, nullable=False)
    due_date: Mapped[date] = Column(Date, nullable=False)
    kid: Mapped[str] = Column(String(25), nullable=False)
    account_number: Mapped[str] = Column(String(11), nullable=False)
    status: Mapped[InvoiceStatus] = Column(_enum(InvoiceStatus, "invoice_status"),
                                           nullable=False, default=InvoiceStatus.UNPAID)
    paid_at: Mapped[Optional[datetime]] = Column(UTCDateTime())

    @property
    def amount_text(self) -> str:
        return format_nok(self.amount_ore)


class Property(Base):
    __tablename__ = "properties"
    __table_args__ = (
        UniqueConstraint("kommunenr", "gnr", "bnr", "festenr", "seksjonsnr",
                         name="uq_properties_matrikkel"),
    )

    id: Mapped[int] = Column(Integer, primary_key=True)
    kommunenr: Mapped[str] = Column(String(4), nullable=False)
    gnr: Mapped[int] = Column(Integer, nullable=False)
    bnr: Mapped[int] = Column(Integer, nullable=False)
    festenr: Mapped[int] = Column(Integer, nullable=False, default=0)
    seksjonsnr: Mapped[int] = Column(Integer, nullable=False, default=0)
    address: Mapped[str] = Column(String(300), nullable=False)

    owners: Mapped[List[Citizen]] = relationship(
        "Citizen", secondary=property_owners, back_populates="properties"
    )

    @property
    def matrikkel(self) -> str:
        """Kommunenr-gnr/bnr, with /festenr and /seksjonsnr when set: '4601-12/345'."""
        text = f"{self.kommunenr}-{self.gnr}/{self.bnr}"
        if self.festenr or self.seksjonsnr:
            text += f"/{self.festenr}"
        if self.seksjonsnr:
            text += f"/{self.seksjonsnr}"
        return text


class AuditEvent(Base):
    """Append-only: who read or changed whose data, when, through which channel."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_citizen_at", "citizen_id", "at"),)

    id: Mapped[int] = Column(Integer, primary_key=True)
    at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    actor_type: Mapped[ActorType] = Column(_enum(ActorType, "actor_type"), nullable=False)
    actor_id: Mapped[str] = Column(String(100), nullable=False)
    # No foreign key: the audit trail outlives the rows it mentions.
    citizen_id: Mapped[Optional[int]] = Column(Integer)
    action: Mapped[str] = Column(String(60), nullable=False)
    object_type: Mapped[Optional[str]] = Column(String(40))
    object_id: Mapped[Optional[str]] = Column(String(40))
    channel: Mapped[Optional[str]] = Column(String(20))
    detail: Mapped[Optional[dict]] = Column(JSON)


class CitizenSession(Base):
    """A login: bound to one citizen, one channel and one conversation; expires when idle."""

    __tablename__ = "citizen_sessions"
    __table_args__ = (Index("ix_citizen_sessions_conversation", "channel", "conversation_id"),)

    id: Mapped[int] = Column(Integer, primary_key=True)
    token_hash: Mapped[str] = Column(String(64), nullable=False, unique=True)
    citizen_id: Mapped[int] = Column(ForeignKey("citizens.id", ondelete="CASCADE"),
                                     nullable=False)
    channel: Mapped[Channel] = Column(_enum(Channel, "channel"), nullable=False)
    conversation_id: Mapped[str] = Column(String(128), nullable=False)
    created_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    last_seen_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    expires_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    ended_at: Mapped[Optional[datetime]] = Column(UTCDateTime())
    ended_reason: Mapped[Optional[str]] = Column(String(20))

    citizen: Mapped[Citizen] = relationship(Citizen)


class Conversation(Base):
    """One chat or SMS thread, keyed by the channel's pseudonymous sender id.

    Caseworkers review these and take them over; admins mine their messages for training data.
    """

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "sender_key", name="uq_conversations_sender"),)

    id: Mapped[int] = Column(Integer, primary_key=True)
    channel: Mapped[Channel] = Column(_enum(Channel, "channel"), nullable=False)
    sender_key: Mapped[str] = Column(String(128), nullable=False)
    citizen_id: Mapped[Optional[int]] = Column(ForeignKey("citizens.id", ondelete="SET NULL"),
                                               index=True)
    started_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    last_message_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    language: Mapped[Optional[str]] = Column(String(2))
    # The owner: the bot (all three None) or one staff member (no staff table yet: no FK).
    owner_staff_id: Mapped[Optional[int]] = Column(Integer)
    owner_name: Mapped[Optional[str]] = Column(String(100))
    owner_since: Mapped[Optional[datetime]] = Column(UTCDateTime())
    # A turn worker's claim on the conversation, until lease_until.
    lease_owner: Mapped[Optional[str]] = Column(String(64))
    lease_until: Mapped[Optional[datetime]] = Column(UTCDateTime())
    # A caseworker's hold: the retention purge keeps the content until it is lifted.
    held_at: Mapped[Optional[datetime]] = Column(UTCDateTime())
    held_by: Mapped[Optional[int]] = Column(Integer)  # staff id
    hold_reason: Mapped[Optional[str]] = Column(String(500))
    # When the citizen deleted the conversation's content ("slett samtalen min").
    erased_at: Mapped[Optional[datetime]] = Column(UTCDateTime())


class TranscriptMessage(Base):
    """A redacted message in a conversation, with what the bot understood of it."""

    __tablename__ = "transcript_messages"
    __table_args__ = (Index("ix_transcript_conversation_at", "conversation_id", "at"),
                      UniqueConstraint("conversation_id", "external_id",
                                       name="uq_transcript_external_id"))

    id: Mapped[int] = Column(Integer, primary_key=True)
    conversation_id: Mapped[int] = Column(ForeignKey("conversations.id", ondelete="CASCADE"),
                                          nullable=False)
    at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    direction: Mapped[str] = Column(String(3), nullable=False)  # "in" or "out"
    author: Mapped[str] = Column(String(20), nullable=False)  # citizen, bot, caseworker, system
    text: Mapped[str] = Column(Text, nullable=False)  # redacted before it is stored
    # The channel's id of a citizen message (Twilio MessageSid, web chat message id):
    # a retried webhook records nothing twice.
    external_id: Mapped[Optional[str]] = Column(String(64))
    in_reply_to: Mapped[Optional[int]] = Column(Integer)
    intent: Mapped[Optional[str]] = Column(String(60))
    confidence: Mapped[Optional[float]] = Column(JSON)
    entities: Mapped[Optional[list]] = Column(JSON)  # entity names only, never values
    action: Mapped[Optional[str]] = Column(String(80))  # the bot action that produced it
    language: Mapped[Optional[str]] = Column(String(2))
    # Outgoing: queued | sent | delivered | ... (follows the outbox row for SMS) | dropped
    # (computed while a person owned the conversation) | pending (web, not yet shown).
    status: Mapped[Optional[str]] = Column(String(12))
    outbound_sms_id: Mapped[Optional[int]] = Column(ForeignKey("outbound_sms.id",
                                                               ondelete="SET NULL"), index=True)
    staff_id: Mapped[Optional[int]] = Column(Integer)  # the person who wrote it
    staff_name: Mapped[Optional[str]] = Column(String(100))
    # Admin curation into training data: new -> accepted (with a label) | rejected.
    review_status: Mapped[str] = Column(String(10), nullable=False, default="new")
    reviewed_intent: Mapped[Optional[str]] = Column(String(60))
    reviewed_by: Mapped[Optional[str]] = Column(String(100))
    reviewed_at: Mapped[Optional[datetime]] = Column(UTCDateTime())
    # The text was deleted (retention purge or the citizen's request); the row and its
    # prediction stay for the figures.
    erased_at: Mapped[Optional[datetime]] = Column(UTCDateTime())


class HandoffRequest(Base):
    """A citizen's request to talk to a person, for the caseworkers' queue."""

    __tablename__ = "handoff_requests"
    __table_args__ = (
        # One open request per conversation: concurrent requests reuse it.
        Index("uq_handoff_requests_open_conversation", "channel", "conversation_id",
              unique=True, sqlite_where=sql_text("status = 'open'"),
              postgresql_where=sql_text("status = 'open'")),
    )

    id: Mapped[int] = Column(Integer, primary_key=True)
    channel: Mapped[Channel] = Column(_enum(Channel, "channel"), nullable=False)
    conversation_id: Mapped[str] = Column(String(128), nullable=False, index=True)
    citizen_id: Mapped[Optional[int]] = Column(ForeignKey("citizens.id", ondelete="SET NULL"))
    reason: Mapped[str] = Column(String(40), nullable=False)
    requested_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    status: Mapped[str] = Column(String(10), nullable=False, default="open")
    taken_by: Mapped[Optional[str]] = Column(String(100))
    taken_at: Mapped[Optional[datetime]] = Column(UTCDateTime())
    closed_at: Mapped[Optional[datetime]] = Column(UTCDateTime())
    # The gateway's conversation row this request is about (conversation_id is its sender key).
    conversation_row_id: Mapped[Optional[int]] = Column(
        ForeignKey("conversations.id", ondelete="SET NULL"), index=True)
    # Whether the queue was staffed when it was asked for (False: answered next opening).
    within_opening_hours: Mapped[Optional[bool]] = Column(Boolean)


class OutboundSms(Base):
    """The durable SMS outbox: written before any send is attempted.

    status: pending -> sending (claimed until lease_until) -> queued | sent | delivered |
    undelivered | failed (Twilio's statuses, moving forward only), or rejected (a permanent
    error), suppressed (opted out) or dev_outbox (no provider configured).
    """

    __tablename__ = "outbound_sms"
    __table_args__ = (Index("ix_outbound_sms_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = Column(Integer, primary_key=True)
    to_number: Mapped[str] = Column(String(16), nullable=False)
    sender_key: Mapped[Optional[str]] = Column(String(64), index=True)
    lease_until: Mapped[Optional[datetime]] = Column(UTCDateTime())
    segments: Mapped[Optional[int]] = Column(Integer)
    body: Mapped[str] = Column(Text, nullable=False)
    purpose: Mapped[str] = Column(String(20), nullable=False)  # otp, notice, reply
    sensitive: Mapped[bool] = Column(Boolean, nullable=False, default=False)
    citizen_id: Mapped[Optional[int]] = Column(ForeignKey("citizens.id", ondelete="SET NULL"))
    status: Mapped[str] = Column(String(12), nullable=False, default="pending")
    attempts: Mapped[int] = Column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    next_attempt_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    correlation_id: Mapped[Optional[str]] = Column(String(64))  # portal/correlation.py
    provider_sid: Mapped[Optional[str]] = Column(String(64), unique=True)
    error_code: Mapped[Optional[str]] = Column(String(20))
    updated_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    # A one-time code's SMS is worthless (and must not go out) after this: status `expired`.
    expires_at: Mapped[Optional[datetime]] = Column(UTCDateTime())


class SmsIdentity(Base):
    """A phone number behind an SMS conversation key (a keyed hash of the number).

    Rasa only ever sees the key; the number stays here. Also holds per-number SMS state:
    opt-out, the numbered choices last offered, and the rest of a cut reply ("MER").
    """

    __tablename__ = "sms_identities"

    sender_key: Mapped[str] = Column(String(64), primary_key=True)
    phone: Mapped[str] = Column(String(16), nullable=False, unique=True)
    created_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    last_inbound_at: Mapped[Optional[datetime]] = Column(UTCDateTime())
    opted_out_at: Mapped[Optional[datetime]] = Column(UTCDateTime())
    choices: Mapped[Optional[list]] = Column(JSON)
    more_text: Mapped[Optional[str]] = Column(Text)
    notice_letter_ids: Mapped[Optional[list]] = Column(JSON)


class InboundSms(Base):
    """Every accepted inbound SMS, written before Twilio gets its answer.

    The unique MessageSid makes retried webhooks harmless; rows not yet `processed` are
    replayed after a restart. The body is masked once the turn has run.
    """

    __tablename__ = "inbound_sms"

    id: Mapped[int] = Column(Integer, primary_key=True)
    message_sid: Mapped[str] = Column(String(64), nullable=False, unique=True)
    sender_key: Mapped[str] = Column(String(64), nullable=False, index=True)
    body: Mapped[str] = Column(Text, nullable=False)
    num_media: Mapped[int] = Column(Integer, nullable=False, default=0)
    received_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    status: Mapped[str] = Column(String(12), nullable=False, default="received")
    processed_at: Mapped[Optional[datetime]] = Column(UTCDateTime())
    conversation_id: Mapped[Optional[int]] = Column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    transcript_message_id: Mapped[Optional[int]] = Column(Integer)
    # Turn retries (Rasa down or slow): attempts so far and when to try again.
    attempts: Mapped[int] = Column(Integer, nullable=False, default=0, server_default="0")
    next_attempt_at: Mapped[Optional[datetime]] = Column(UTCDateTime())
    correlation_id: Mapped[Optional[str]] = Column(String(64))  # portal/correlation.py


class SmsNotice(Base):
    """A proactive "you have a letter" SMS: merged per citizen, held back in quiet hours."""

    __tablename__ = "sms_notices"
    __table_args__ = (
        Index("ix_sms_notices_status_due", "status", "due_at"),
        # One pending notice per citizen: letters arriving meanwhile join it.
        Index("uq_sms_notices_pending_citizen", "citizen_id", unique=True,
              sqlite_where=sql_text("status = 'pending'"),
              postgresql_where=sql_text("status = 'pending'")),
    )

    id: Mapped[int] = Column(Integer, primary_key=True)
    citizen_id: Mapped[int] = Column(ForeignKey("citizens.id", ondelete="CASCADE"),
                                     nullable=False, index=True)
    letter_ids: Mapped[list] = Column(JSON, nullable=False)
    created_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    due_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    status: Mapped[str] = Column(String(10), nullable=False, default="pending")
    sent_at: Mapped[Optional[datetime]] = Column(UTCDateTime())
    outbound_sms_id: Mapped[Optional[int]] = Column(ForeignKey("outbound_sms.id"))


class StaffRole(str, enum.Enum):
    CASEWORKER = "caseworker"
    ADMIN = "admin"


class StaffMember(Base):
    """A caseworker or admin: password (argon2) plus TOTP; `session_epoch` ends every session."""

    __tablename__ = "staff_members"

    id: Mapped[int] = Column(Integer, primary_key=True)
    email: Mapped[str] = Column(String(254), nullable=False, unique=True)
    name: Mapped[str] = Column(String(200), nullable=False)
    role: Mapped[StaffRole] = Column(_enum(StaffRole, "staff_role"), nullable=False)
    password_hash: Mapped[Optional[str]] = Column(String(200))
    totp_secret: Mapped[Optional[str]] = Column(String(255))  # sealed (portal/staff/totp.py)
    totp_enrolled_at: Mapped[Optional[datetime]] = Column(UTCDateTime())
    totp_last_step: Mapped[Optional[int]] = Column(BigInteger)
    session_epoch: Mapped[int] = Column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    last_login_at: Mapped[Optional[datetime]] = Column(UTCDateTime())
    disabled_at: Mapped[Optional[datetime]] = Column(UTCDateTime())

    @property
    def is_admin(self) -> bool:
        return self.role == StaffRole.ADMIN

    @property
    def active(self) -> bool:
        return self.disabled_at is None


class StaffSetupLink(Base):
    """A one-time link to set a password and enrol TOTP; only its hash is kept."""

    __tablename__ = "staff_setup_links"

    id: Mapped[int] = Column(Integer, primary_key=True)
    staff_id: Mapped[int] = Column(ForeignKey("staff_members.id", ondelete="CASCADE"),
                                   nullable=False, index=True)
    token_hash: Mapped[str] = Column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    expires_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    used_at: Mapped[Optional[datetime]] = Column(UTCDateTime())

    staff: Mapped[StaffMember] = relationship(StaffMember)


class StaffApiToken(Base):
    """A revocable bearer token for the staff JSON API; only its hash is kept."""

    __tablename__ = "staff_api_tokens"

    id: Mapped[int] = Column(Integer, primary_key=True)
    staff_id: Mapped[int] = Column(ForeignKey("staff_members.id", ondelete="CASCADE"),
                                   nullable=False, index=True)
    token_hash: Mapped[str] = Column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    last_used_at: Mapped[Optional[datetime]] = Column(UTCDateTime())
    revoked_at: Mapped[Optional[datetime]] = Column(UTCDateTime())

    staff: Mapped[StaffMember] = relationship(StaffMember)

class NluAnnotation(Base):
    """An admin's label for a citizen message text: an intent, out_of_scope, or ignored.

    One row per distinct text (identical messages share it). `held_out` is decided once, when
    the text is first annotated, and never moves: held-out texts are never trained on and every
    candidate model is judged on them.
    """

    __tablename__ = "nlu_annotations"

    id: Mapped[int] = Column(Integer, primary_key=True)
    message_id: Mapped[Optional[int]] = Column(
        ForeignKey("transcript_messages.id", ondelete="SET NULL"), index=True)
    text: Mapped[str] = Column(Text, nullable=False)
    text_hash: Mapped[str] = Column(String(64), nullable=False, unique=True)
    intent: Mapped[Optional[str]] = Column(String(60))  # None when ignored
    state: Mapped[str] = Column(String(10), nullable=False)  # accepted | ignored
    held_out: Mapped[bool] = Column(Boolean, nullable=False)
    staff_id: Mapped[int] = Column(Integer, nullable=False)
    at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)


class TrainingJob(Base):
    """One background job of the training loop: a `rasa train` (at most one holds the running
    slot at a time) or an evaluation of a version (at most one running per version)."""

    __tablename__ = "training_jobs"

    id: Mapped[int] = Column(Integer, primary_key=True)
    kind: Mapped[str] = Column(String(10), nullable=False, default="train",
                               server_default="train")  # train | evaluate
    state: Mapped[str] = Column(String(10), nullable=False)  # running | succeeded | failed
    # 1 while a training runs, NULL otherwise: the unique constraint admits one training only.
    running_slot: Mapped[Optional[int]] = Column(Integer, unique=True)
    # The evaluated version's id while its evaluation runs, NULL otherwise: one per version.
    evaluation_slot: Mapped[Optional[int]] = Column(Integer, unique=True)
    progress: Mapped[int] = Column(Integer, nullable=False, default=0)
    stage: Mapped[Optional[str]] = Column(String(60))
    started_by: Mapped[int] = Column(Integer, nullable=False)
    started_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    finished_at: Mapped[Optional[datetime]] = Column(UTCDateTime())
    host: Mapped[Optional[str]] = Column(String(255))
    pid: Mapped[Optional[int]] = Column(Integer)
    log_path: Mapped[Optional[str]] = Column(Text)
    error: Mapped[Optional[str]] = Column(Text)
    epochs_scale: Mapped[Optional[float]] = Column(Float)
    # The version a training made, or the version an evaluation judges.
    model_version_id: Mapped[Optional[int]] = Column(ForeignKey("model_versions.id"))
    evaluation_id: Mapped[Optional[int]] = Column(ForeignKey("model_evaluations.id"))
    evaluation: Mapped[Optional["ModelEvaluation"]] = relationship("ModelEvaluation",
                                                                   lazy="joined")


class ModelVersion(Base):
    """A trained Rasa model file in the model bank."""

    __tablename__ = "model_versions"

    id: Mapped[int] = Column(Integer, primary_key=True)
    path: Mapped[str] = Column(Text, nullable=False)
    data_hash: Mapped[str] = Column(String(64), nullable=False)
    started_by: Mapped[Optional[int]] = Column(Integer)
    created_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    size_bytes: Mapped[int] = Column(BigInteger, nullable=False)
    training_seconds: Mapped[Optional[float]] = Column(Float)
    annotations: Mapped[int] = Column(Integer, nullable=False, default=0)


class ModelEvaluation(Base):
    """A candidate and the then active model side by side on the held-out set and the
    conversation tests."""

    __tablename__ = "model_evaluations"

    id: Mapped[int] = Column(Integer, primary_key=True)
    candidate_id: Mapped[int] = Column(ForeignKey("model_versions.id"), nullable=False,
                                       index=True)
    baseline_id: Mapped[Optional[int]] = Column(ForeignKey("model_versions.id"))
    baseline_path: Mapped[str] = Column(Text, nullable=False)
    at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    heldout_size: Mapped[int] = Column(Integer, nullable=False)
    candidate_macro_f1: Mapped[Optional[float]] = Column(Float)
    baseline_macro_f1: Mapped[Optional[float]] = Column(Float)
    candidate_failed_tests: Mapped[int] = Column(Integer, nullable=False)
    worse: Mapped[bool] = Column(Boolean, nullable=False)
    report: Mapped[dict] = Column(JSON, nullable=False)


class ModelActivation(Base):
    """A model put into service on every Rasa server (or an attempt that was rolled back)."""

    __tablename__ = "model_activations"

    id: Mapped[int] = Column(Integer, primary_key=True)
    version_id: Mapped[int] = Column(ForeignKey("model_versions.id"), nullable=False)
    at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    staff_id: Mapped[Optional[int]] = Column(Integer)
    ok: Mapped[bool] = Column(Boolean, nullable=False)
    reason: Mapped[Optional[str]] = Column(Text)
    servers: Mapped[list] = Column(JSON, nullable=False)
    seconds: Mapped[Optional[float]] = Column(Float)


class CitizenCase(Base):
    """A citizen's written message to the municipality ("Skriv til kommunen"), for the queue.

    The body is the citizen's own message and is kept as written (the transcript holds a
    redacted copy); a caseworker's answer goes to the citizen's inbox as a letter.
    """

    __tablename__ = "citizen_cases"
    __table_args__ = (Index("ix_citizen_cases_status_created", "status", "created_at"),)

    id: Mapped[int] = Column(Integer, primary_key=True)
    citizen_id: Mapped[int] = Column(ForeignKey("citizens.id", ondelete="CASCADE"),
                                     nullable=False, index=True)
    channel: Mapped[Channel] = Column(_enum(Channel, "channel"), nullable=False)
    conversation_id: Mapped[Optional[int]] = Column(
        ForeignKey("conversations.id", ondelete="SET NULL"), index=True)
    reply_to_letter_id: Mapped[Optional[int]] = Column(
        ForeignKey("letters.id", ondelete="SET NULL"))
    handoff_request_id: Mapped[Optional[int]] = Column(
        ForeignKey("handoff_requests.id", ondelete="SET NULL"))
    body: Mapped[str] = Column(Text, nullable=False)
    created_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    status: Mapped[str] = Column(String(10), nullable=False, default="open")  # open | answered
    answered_at: Mapped[Optional[datetime]] = Column(UTCDateTime())
    answered_by: Mapped[Optional[int]] = Column(Integer)  # staff id
    answer_letter_id: Mapped[Optional[int]] = Column(
        ForeignKey("letters.id", ondelete="SET NULL"))

class ConversationMark(Base):
    """The workspace's state of a conversation: reviewed, closed (one row, made on first use)."""

    __tablename__ = "conversation_marks"

    conversation_id: Mapped[int] = Column(ForeignKey("conversations.id", ondelete="CASCADE"),
                                          primary_key=True)
    reviewed_at: Mapped[Optional[datetime]] = Column(UTCDateTime())
    reviewed_by: Mapped[Optional[int]] = Column(Integer)
    closed_at: Mapped[Optional[datetime]] = Column(UTCDateTime(), index=True)
    closed_by: Mapped[Optional[int]] = Column(Integer)


class ConversationTag(Base):
    """A caseworker's label on a conversation (lower case, at most 40 characters)."""

    __tablename__ = "conversation_tags"

    conversation_id: Mapped[int] = Column(ForeignKey("conversations.id", ondelete="CASCADE"),
                                          primary_key=True)
    tag: Mapped[str] = Column(String(40), primary_key=True, index=True)
    staff_id: Mapped[int] = Column(Integer, nullable=False)
    at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)


class ConversationNote(Base):
    """An internal note on a conversation; staff only, never shown to the citizen."""

    __tablename__ = "conversation_notes"

    id: Mapped[int] = Column(Integer, primary_key=True)
    conversation_id: Mapped[int] = Column(ForeignKey("conversations.id", ondelete="CASCADE"),
                                          nullable=False, index=True)
    staff_id: Mapped[int] = Column(Integer, nullable=False)
    staff_name: Mapped[str] = Column(String(200), nullable=False)
    text: Mapped[str] = Column(Text, nullable=False)  # redacted before it is stored
    at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
