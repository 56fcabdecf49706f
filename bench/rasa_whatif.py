"""`python -m channels.rasa_main` with one change, for bench/bot_bench.py --what-if only.

Rasa 3.6 checks every action-server response with `jsonschema.validate(result, schema)`
(rasa/core/actions/action.py, RemoteAction._validate_action_result). `validate` first checks the
schema itself against the Draft 2020-12 metaschema, on every call: with jsonschema 4.17 that is
~75 ms of CPU for Rasa's EVENTS_SCHEMA, twice per turn here (the slot-mapping validation action
and the turn's own action). This wrapper validates with a validator built once: same schema, same
ValidationError on a bad response, same message. The project code is not changed.
"""
from __future__ import annotations

from typing import Any, Dict, Text


def install_compiled_validation() -> None:
    from jsonschema import ValidationError, validators
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    schema = RemoteAction.action_response_format_spec()
    cls = validators.validator_for(schema)
    cls.check_schema(schema)  # once, at start-up
    validator = cls(schema)

    def _validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
        try:
            validator.validate(result)
            return True
        except ValidationError as e:
            e.message += (
                f". Failed to validate Action server response from API, "
                f"make sure your response from the Action endpoint is valid. "
                f"For more information about the format visit "
                f"{DOCS_BASE_URL}/custom-actions"
            )
            raise e

    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[assignment]


def main() -> None:
    from channels.rasa_main import main as project_main

    install_compiled_validation()
    project_main()


if __name__ == "__main__":
    main()
