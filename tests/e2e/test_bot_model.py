"""The Rasa bot itself: valid training data, and conversation tests for every journey."""
import subprocess
import sys
from pathlib import Path

import pytest

from portal.config import PROJECT_ROOT

pytestmark = pytest.mark.slow

# Plain `rasa`, as a Rasa developer types it in the repository root: the project's script
# (assistant/rasa_cli.py) finds the domain, data, config, tests and models by itself.
RASA = [str(Path(sys.executable).parent / "rasa")]


def run(args, tmp_path):
    result = subprocess.run(RASA + args, cwd=PROJECT_ROOT, capture_output=True, text=True)
    (tmp_path / "rasa.log").write_text(result.stdout + result.stderr)
    return result


def test_training_data_validates_without_warnings(tmp_path):
    result = run(["data", "validate", "--fail-on-warnings"], tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_conversation_tests_pass(trained_model, tmp_path):
    result = run(["test", "core", "--model", str(trained_model), "--fail-on-prediction-errors",
                  "--out", str(tmp_path / "results")], tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    failed = tmp_path / "results" / "failed_test_stories.yml"
    assert not failed.exists() or "None of the test stories failed" in failed.read_text()


def test_train_finds_the_same_inputs_and_models(trained_model, tmp_path):
    """`rasa train` reads what `assistant train` reads: nothing to train for the same data."""
    result = run(["train", "--dry-run"], tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "No training of components required" in result.stdout + result.stderr
