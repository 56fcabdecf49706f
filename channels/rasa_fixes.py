"""A performance fix applied to Rasa 3.6 before it starts.

Rasa checks every action-server response with `jsonschema.validate(result, schema)`
(rasa/core/actions/action.py, RemoteAction._validate_action_result). `validate` first checks the
schema itself against its metaschema on every call: with jsonschema 4.17 that costs about 75 ms
of CPU for Rasa's events schema, twice per turn here (the slot-mapping validation action and
the turn's own action), measured by bench/bot_bench.py and bench/sms_bench.py. This validates
with one validator built at start-up: the same schema, the same ValidationError and message.
"""
from __future__ import annotations

from typing import Any, Dict, Text


def install_compiled_action_validation() -> None:
    from jsonschema import ValidationError, validators
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    schema = RemoteAction.action_response_format_spec()
    cls = validators.validator_for(schema)
    cls.check_schema(schema)  # once
    validator = cls(schema)

    def _validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
        try:
            validator.validate(result)
        except ValidationError as error:
            error.message += (
                ". Failed to validate Action server response from API, make sure your "
                "response from the Action endpoint is valid. For more information about the "
                f"format visit {DOCS_BASE_URL}/custom-actions")
            raise
        return True

    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[assignment]
