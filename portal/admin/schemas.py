"""Schemas of the admin JSON API."""
from flask import url_for
from marshmallow import ValidationError, fields, validates_schema

from portal.extensions import ma


class InboxQuerySchema(ma.Schema):
    below = fields.Float(metadata={"description": "Only confidences under this (0-1)"})
    fell_back = fields.Boolean(metadata={"description": "Only messages that fell back"})
    intent = fields.String(metadata={"description": "Only this predicted intent"})
    language = fields.String(metadata={"description": "nb, nn or en"})
    channel = fields.String(metadata={"description": "sms, webchat or rest"})
    since = fields.String(metadata={"description": "ISO date-time, inclusive"})
    until = fields.String(metadata={"description": "ISO date-time, inclusive"})
    unannotated = fields.Boolean()
    page = fields.Integer()
    per_page = fields.Integer()


class InboxRowSchema(ma.Schema):
    message_id = fields.Integer(metadata={"description": "The newest message with this text"})
    text = fields.String(metadata={"description": "Redacted text"})
    count = fields.Integer()
    intent = fields.String(allow_none=True)
    confidence = fields.Float(allow_none=True)
    language = fields.String(allow_none=True)
    channel = fields.String()
    last_at = fields.DateTime()
    annotation = fields.String(allow_none=True)
    held_out = fields.Boolean(allow_none=True)


class InboxSchema(ma.Schema):
    rows = fields.List(fields.Nested(InboxRowSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class AnnotateSchema(ma.Schema):
    """Exactly one of: an intent of the domain, out_of_scope true, ignore true."""
    intent = fields.String()
    out_of_scope = fields.Boolean()
    ignore = fields.Boolean()

    @validates_schema
    def one_label(self, data, **_kwargs):
        given = [k for k in ("intent", "out_of_scope", "ignore")
                 if data.get(k) not in (None, False)]
        if len(given) != 1:
            raise ValidationError("Give exactly one of intent, out_of_scope: true, "
                                  "ignore: true.")


class AnnotationSchema(ma.Schema):
    message_id = fields.Integer()
    text = fields.String()
    label = fields.String(metadata={"description": "An intent, out_of_scope or ignore"})
    held_out = fields.Boolean()
    at = fields.DateTime()


class EvaluationSchema(ma.Schema):
    id = fields.Integer()
    at = fields.DateTime()
    baseline_id = fields.Integer(allow_none=True)
    heldout_size = fields.Integer()
    candidate_macro_f1 = fields.Float(allow_none=True)
    baseline_macro_f1 = fields.Float(allow_none=True)
    candidate_failed_tests = fields.Integer()
    worse = fields.Boolean()
    report = fields.Dict(metadata={"description": "Per-intent figures of both sides, "
                                                  "out-of-scope rejection, changed "
                                                  "predictions, failing conversation tests"})


class JobSchema(ma.Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "train or evaluate"})
    state = fields.String(metadata={"description": "running (stage queued until its runner "
                                                   "starts), succeeded or failed"})
    progress = fields.Integer(metadata={"description": "0-100"})
    stage = fields.String(allow_none=True)
    started_by = fields.Integer()
    started_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    error = fields.String(allow_none=True, metadata={"description": "The cause of a failure"})
    model_version_id = fields.Integer(allow_none=True, metadata={
        "description": "The version a training made, or the version an evaluation judges"})
    evaluation = fields.Nested(EvaluationSchema, allow_none=True, metadata={
        "description": "An evaluation job's result, once it succeeded"})
    links = fields.Method("job_links", metadata={
        "description": "self: this job; models: the model bank; page: the admin page that "
                       "shows it"})

    def job_links(self, job) -> dict:
        """This job in the API, the model bank, and the admin page that shows the job."""
        page = (url_for("admin.compare", version_id=job.model_version_id)
                if job.kind == "evaluate" else url_for("admin.models"))
        return {"self": url_for("admin_api.job", job_id=job.id),
                "models": url_for("admin_api.models"), "page": page}


class VersionSchema(ma.Schema):
    id = fields.Integer()
    file = fields.String()
    data_hash = fields.String()
    started_by = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    size_bytes = fields.Integer()
    training_seconds = fields.Float(allow_none=True)
    annotations = fields.Integer()
    active = fields.Boolean()
    evaluation = fields.Nested(EvaluationSchema, allow_none=True)


class VersionListSchema(ma.Schema):
    versions = fields.List(fields.Nested(VersionSchema))


class ActivateSchema(ma.Schema):
    reason = fields.String(metadata={"description": "Required when the candidate is worse"})


class ActivationSchema(ma.Schema):
    id = fields.Integer()
    version_id = fields.Integer()
    at = fields.DateTime()
    ok = fields.Boolean()
    reason = fields.String(allow_none=True)
    seconds = fields.Float(allow_none=True)
    servers = fields.List(fields.Dict())
