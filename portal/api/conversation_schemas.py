"""Schemas of the conversation gateway API (the Rasa-side web chat channel)."""
from marshmallow import fields, validate

from portal.extensions import ma

KEY = validate.Regexp(r"^web-[A-Za-z0-9_-]{8,120}$")


class CitizenMessageInSchema(ma.Schema):
    sender = fields.String(required=True, validate=KEY)
    text = fields.String(required=True, validate=validate.Length(min=1, max=1000))
    message_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    language = fields.String(load_default=None, validate=validate.OneOf(["nb", "nn", "en"]))
    source = fields.String(load_default=None, validate=validate.Length(min=1, max=100),
                           metadata={"description": "the web client's address: its code "
                                                    "requests count together (kept hashed)"})


class RecordedSchema(ma.Schema):
    message_id = fields.Integer()
    new = fields.Boolean()
    route = fields.String(metadata={"description": "bot or person: who answers"})


class ButtonSchema(ma.Schema):
    title = fields.String(load_default="")
    payload = fields.String(load_default="")


class BotMessageSchema(ma.Schema):
    text = fields.String(load_default="", validate=validate.Length(max=4000))
    buttons = fields.List(fields.Nested(ButtonSchema), load_default=None, allow_none=True)
    action = fields.String(load_default=None, allow_none=True,
                           validate=validate.Length(max=80))
    quotes_citizen = fields.Boolean(load_default=False, metadata={
        "description": "The reply quotes what the citizen wrote: masked as citizen text"})


class PredictionSchema(ma.Schema):
    intent = fields.String(load_default=None, allow_none=True)
    confidence = fields.Float(load_default=None, allow_none=True)
    entities = fields.List(fields.String(), load_default=list)


class RepliesInSchema(ma.Schema):
    messages = fields.List(fields.Nested(BotMessageSchema), required=True,
                           validate=validate.Length(max=20))
    prediction = fields.Nested(PredictionSchema, load_default=None, allow_none=True)


class RepliesSchema(ma.Schema):
    send = fields.List(fields.Integer(), metadata={
        "description": "indexes of the posted messages that may be shown (none when a person "
                       "took over meanwhile)"})


class LiveInSchema(ma.Schema):
    conversations = fields.List(fields.String(validate=KEY), required=True,
                                validate=validate.Length(max=2000))
    delivered = fields.List(fields.Integer(), load_default=list,
                            validate=validate.Length(max=2000))


class LiveMessageSchema(ma.Schema):
    id = fields.Integer()
    conversation = fields.String()
    author = fields.String(metadata={"description": "caseworker or system"})
    name = fields.String(attribute="staff_name", allow_none=True)
    text = fields.String()
    lang = fields.String(attribute="language", allow_none=True,
                         metadata={"description": "nb, nn or en"})


class LiveSchema(ma.Schema):
    messages = fields.List(fields.Nested(LiveMessageSchema))
