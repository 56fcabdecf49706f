"""The compiled action-response validation accepts and refuses exactly what Rasa's does."""
import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction

from channels.rasa_fixes import install_compiled_action_validation


@pytest.fixture
def action():
    original = RemoteAction._validate_action_result
    install_compiled_action_validation()
    yield RemoteAction("action_x", None)
    RemoteAction._validate_action_result = original


def test_a_valid_response_passes(action):
    assert action._validate_action_result(
        {"events": [{"event": "slot", "name": "language", "value": "nb"}], "responses": []})


def test_an_invalid_response_is_refused_with_rasas_message(action):
    with pytest.raises(ValidationError, match="Failed to validate Action server response"):
        action._validate_action_result({"events": [{"event": 42}]})
