"""Request and response schemas (marshmallow), which also describe the API in OpenAPI."""
from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from portal.conversation_ids import channel_of
from portal.extensions import ma
from portal.models import (
    Channel,
    InvoiceKind,
    InvoiceStatus,
    LetterCategory,
    LetterStatus,
    OfferStatus,
)



class LetterSummarySchema(ma.Schema):
    id = fields.Integer()
    title = fields.String()
    sender_unit = fields.String()
    category = fields.Enum(LetterCategory, by_value=True)
    status = fields.Enum(LetterStatus, by_value=True)
    sent_at = fields.DateTime()
    unread = fields.Boolean(attribute="is_unread")


class LetterSchema(LetterSummarySchema):
    body = fields.String()
    read_at = fields.DateTime(allow_none=True)
    read_via = fields.Enum(Channel, by_value=True, allow_none=True)
    print_due_at = fields.DateTime()
    first_read = fields.Boolean(dump_default=False)


class LetterListSchema(ma.Schema):
    unread_count = fields.Integer()
    letters = fields.List(fields.Nested(LetterSummarySchema))


class LetterQuerySchema(ma.Schema):
    unread = fields.Boolean(load_default=False)
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class OfferSchema(ma.Schema):
    id = fields.Integer()
    child_name = fields.String()
    child_birth_date = fields.Date()
    kindergarten = fields.String()
    start_date = fields.Date()
    offered_at = fields.DateTime()
    deadline = fields.DateTime()
    status = fields.Enum(OfferStatus, by_value=True)
    answered_at = fields.DateTime(allow_none=True)
    answered_via = fields.Enum(Channel, by_value=True, allow_none=True)


class OfferListSchema(ma.Schema):
    offers = fields.List(fields.Nested(OfferSchema))


class OfferQuerySchema(ma.Schema):
    open = fields.Boolean(load_default=False)


class AnswerSchema(ma.Schema):
    answer = fields.String(required=True, validate=validate.OneOf(["accept", "decline"]))


class AnswerResultSchema(ma.Schema):
    offer = fields.Nested(OfferSchema)
    already_answered = fields.Boolean()


class InvoiceSchema(ma.Schema):
    id = fields.Integer()
    kind = fields.Enum(InvoiceKind, by_value=True)
    period = fields.String()
    amount_ore = fields.Integer()
    amount_text = fields.String()
    due_date = fields.Date()
    kid = fields.String()
    account_number = fields.String()
    status = fields.Enum(InvoiceStatus, by_value=True)
    overdue = fields.Boolean()


class InvoiceListSchema(ma.Schema):
    invoices = fields.List(fields.Nested(InvoiceSchema))
    unpaid_total_ore = fields.Integer()
    unpaid_total_text = fields.String()


class InvoiceQuerySchema(ma.Schema):
    status = fields.String(load_default=None,
                           validate=validate.OneOf([s.value for s in InvoiceStatus]))


class PropertySchema(ma.Schema):
    id = fields.Integer()
    kommunenr = fields.String()
    gnr = fields.Integer()
    bnr = fields.Integer()
    festenr = fields.Integer()
    seksjonsnr = fields.Integer()
    address = fields.String()
    matrikkel = fields.String()


class PropertyListSchema(ma.Schema):
    properties = fields.List(fields.Nested(PropertySchema))


class LanguageSchema(ma.Schema):
    language = fields.String(required=True, validate=validate.OneOf(["nb", "nn", "en"]),
                             metadata={"description": "nb (bokmål), nn (nynorsk) or en"})


class MeSchema(ma.Schema):
    first_name = fields.String()
    language = fields.String()
    unread_letters = fields.Integer()
    open_offers = fields.Integer()
    unpaid_invoices = fields.Integer()
    session_expires_at = fields.DateTime()


def no_nul(value: str) -> None:
    """PostgreSQL text cannot hold NUL characters: refuse them as invalid input."""
    if "\x00" in value:
        raise ValidationError("Must not contain NUL characters.")


class DispatchLetterSchema(ma.Schema):
    fnr = fields.String(required=True, validate=validate.Length(min=11, max=12))
    sender_unit = fields.String(required=True,
                                validate=[validate.Length(min=1, max=200), no_nul])
    title = fields.String(required=True, validate=[validate.Length(min=1, max=300), no_nul])
    body = fields.String(required=True, validate=[validate.Length(min=1, max=20000), no_nul])
    category = fields.String(required=True,
                             validate=validate.OneOf([c.value for c in LetterCategory]))
    external_id = fields.String(load_default=None,
                                validate=[validate.Length(min=1, max=100), no_nul])


class DispatchedSchema(ma.Schema):
    id = fields.Integer()
    status = fields.Enum(LetterStatus, by_value=True)
    print_due_at = fields.DateTime()
    created = fields.Boolean()


class MonthSavingsSchema(ma.Schema):
    month = fields.String()
    read_digitally = fields.Integer()
    printed = fields.Integer()
    digital_share = fields.Float()
    saving_ore = fields.Integer()
    saving_text = fields.String()


class SavingsSchema(ma.Schema):
    saving_per_letter_ore = fields.Integer()
    months = fields.List(fields.Nested(MonthSavingsSchema))
    total_saving_ore = fields.Integer()


class HealthSchema(ma.Schema):
    status = fields.String()
    database = fields.String()


class ErrorSchema(ma.Schema):
    error = fields.Dict()


CHANNELS = ["sms", "webchat", "rest"]


class ConversationSchema(ma.Schema):
    """A channel and a conversation id that channel issued (portal/conversation_ids.py)."""

    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    conversation_id = fields.String(required=True, validate=validate.Length(min=1, max=128))

    @validates_schema
    def _id_of_its_channel(self, data, **_):
        if "channel" in data and "conversation_id" in data and \
                channel_of(data["conversation_id"]) != data["channel"]:
            raise ValidationError("Not a conversation of that channel.", "conversation_id")


class LoginStartSchema(ConversationSchema):
    fnr = fields.String(required=True, validate=validate.Length(min=1, max=20))


class CodeRequestSchema(ConversationSchema):
    personal_code = fields.String(load_default=None, allow_none=True,
                                  validate=validate.Length(max=20), metadata={
        "description": "The citizen's personal code; left out (or null) by a citizen who has "
                       "none yet or whose reset is due"})
    source = fields.String(validate=validate.Length(min=1, max=128), metadata={
        "description": "Who asks, where the channel knows it (SMS sender, client address); "
                       "code requests are limited per source"})


class VerifySchema(ConversationSchema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=20))


class CodeSentSchema(ma.Schema):
    status = fields.String()


class LoginSchema(ma.Schema):
    expires_at = fields.DateTime()
    first_name = fields.String()
    language = fields.String()
    choose_personal_code = fields.Boolean(metadata={
        "description": "The citizen has no personal code now and should choose one"})
    reset_cancelled = fields.Boolean(metadata={
        "description": "A waiting reset of the personal code was cancelled by this login"})


class PersonalCodeSchema(ma.Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=20))


class ResetRequestSchema(ConversationSchema):
    fnr = fields.String(required=True, validate=validate.Length(min=1, max=20))


class ResetCancelSchema(ConversationSchema):
    pass


class ResetCancelledSchema(ma.Schema):
    cancelled = fields.Boolean()


class DevSmsSchema(ma.Schema):
    id = fields.Integer()
    to = fields.String(attribute="to_number")
    body = fields.String()
    purpose = fields.String()
    created_at = fields.DateTime()


class DevSmsListSchema(ma.Schema):
    messages = fields.List(fields.Nested(DevSmsSchema))


class DevSmsQuerySchema(ma.Schema):
    to = fields.String(load_default=None)


class HandoffInSchema(ConversationSchema):
    reason = fields.String(required=True, validate=validate.OneOf(
        ["citizen_request", "not_understood"]))


class HandoffSchema(ma.Schema):
    id = fields.Integer()
    status = fields.String()
    requested_at = fields.DateTime()
    conversation_row_id = fields.Integer(allow_none=True)
    open_now = fields.Boolean(metadata={"description": "Caseworkers are at work now"})
    next_open = fields.DateTime(allow_none=True, metadata={
        "description": "When the queue opens next (null while open)"})
    logged_in = fields.Boolean(metadata={
        "description": "A citizen is logged in in the conversation (can leave a message)"})
