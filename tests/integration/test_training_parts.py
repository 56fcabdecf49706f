"""The training loop's parts that need no model: progress parsing, epochs scaling, server
URLs, the training data folder a job trains on, and the model commands (`model evaluate`
follows the job a real runner ends)."""
from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from assistant.model import fingerprint
from assistant.rasa_servers import RasaServers, server_urls
from portal.config import PROJECT_ROOT
from portal.models import Channel
from portal.training.annotations import annotate, training_examples
from portal.training.data import (ANNOTATED_FILE, build_training_root, epochs_scale,
                                  scaled_config)
from portal.training.progress import ProgressParser
from tests.admin_fixtures import active_and_candidate, ended_job
from tests.conftest import T0
from tests.training_fixtures import add_conversation, add_message

RASA_OUTPUT = """\
2026-12-01 20:28:22 INFO     rasa.cli.train  - Started validating domain and training data...
2026-12-01 20:28:45 INFO     rasa.engine.training.hooks  - Starting to train component 'RegexFeaturizer'.
2026-12-01 20:28:50 INFO     rasa.engine.training.hooks  - Restored component 'CountVectorsFeaturizer' from cache.
2026-12-01 20:29:01 INFO     rasa.engine.training.hooks  - Starting to train component 'DIETClassifier'.
Epochs:   0%|          | 0/4 [00:00<?, ?it/s]
Epochs:  50%|█████     | 2/4 [00:13<00:11,  5.69s/it, t_loss=4.38, i_acc=0.624]
Epochs: 100%|██████████| 4/4 [00:14<00:00,  2.28s/it, t_loss=3.09, i_acc=0.945]
2026-12-01 20:29:25 INFO     rasa.engine.training.hooks  - Finished training component 'DIETClassifier'.
Processed rules: 100%|██████████| 18/18 [00:00<00:00, 2952.70it/s, # trackers=1]
2026-12-01 20:28:45 INFO     rasa.engine.training.hooks  - Starting to train component 'RegexFeaturizer'.
Your Rasa model is trained and saved at '/tmp/tr1/out/t1.tar.gz'.
"""


def test_progress_follows_rasas_output_and_never_goes_back():
    parser = ProgressParser()
    seen = []
    for line in RASA_OUTPUT.splitlines():
        parser.feed(line)
        seen.append((parser.percent, parser.stage))
    percents = [p for p, _ in seen]
    assert percents == sorted(percents)
    assert ("NLU epoch 2/4" in [s for _, s in seen]) and seen[5][0] == 30 + 55 * 2 // 4
    assert seen[-1] == (98, "saving") and seen[0] == (3, "validating")


def test_scaled_config_keeps_the_pipeline_and_scales_epochs(monkeypatch):
    original = (PROJECT_ROOT / "config.yml").read_text()
    assert scaled_config(original, None) == original
    scaled, base = yaml.safe_load(scaled_config(original, 0.25)), yaml.safe_load(original)
    assert [c["name"] for c in scaled["pipeline"]] == [c["name"] for c in base["pipeline"]]
    diet = lambda c: next(x for x in c["pipeline"] if x["name"] == "DIETClassifier")  # noqa
    assert diet(scaled)["epochs"] == 10 and diet(base)["epochs"] == 40
    assert {k: v for k, v in diet(scaled).items() if k != "epochs"} == \
        {k: v for k, v in diet(base).items() if k != "epochs"}
    assert yaml.safe_load(scaled_config(original, 0.001))["pipeline"][5]["epochs"] == 1
    assert epochs_scale({}) is None and epochs_scale({"TRAINING_EPOCHS_SCALE": "0.5"}) == 0.5
    for bad in ("0", "2", "-1"):
        try:
            epochs_scale({"TRAINING_EPOCHS_SCALE": bad})
        except ValueError:
            continue
        raise AssertionError(f"{bad} accepted")


def test_server_urls():
    assert server_urls({}) == ["http://127.0.0.1:5005"]
    assert server_urls({"RASA_PORT": "6000", "RASA_INSTANCES": "3"}) == [
        "http://127.0.0.1:6000", "http://127.0.0.1:6001", "http://127.0.0.1:6002"]
    assert server_urls({"RASA_URLS": "http://a:1/, http://b:2"}) == ["http://a:1",
                                                                   "http://b:2"]


def test_swap_to_a_server_that_is_down_says_so():
    result = RasaServers(["http://127.0.0.1:9"], "token").swap("/nowhere.tar.gz", None)
    assert not result.ok and result.rolled_back and "127.0.0.1:9" in result.error


def test_training_folder_has_the_annotations_and_nothing_held_out(db, demo, tmp_path):
    web = add_conversation(db, Channel.WEBCHAT, "w1", T0)
    texts = [f"koble meg til skranken {i}" for i in range(10)] + ["mitt nr er [telefon]"]
    for text in texts:
        annotate(db, add_message(db, web, text).id, "human_handoff", staff_id=1, now=T0)
    db.commit()
    count = build_training_root(db, tmp_path / "root", 0.25)
    written = yaml.safe_load((tmp_path / "root" / ANNOTATED_FILE).read_text())
    examples = [line[2:] for line in written["nlu"][0]["examples"].splitlines()]
    assert count == len(examples) == 11 - 2  # 20 % held out
    held = set(training_examples(db, held_out=True)["human_handoff"])
    assert len(held) == 2 and set(examples) == set(texts) - held  # placeholders as written
    assert (tmp_path / "root" / "bot" / "domain" / "core.yml").exists()
    assert yaml.safe_load((tmp_path / "root" / "config.yml").read_text())["pipeline"][5][
        "epochs"] == 10
    assert fingerprint(tmp_path / "root") != fingerprint(PROJECT_ROOT)


@pytest.mark.slow
def test_exported_annotations_keep_rasa_data_validate_green(db, demo, tmp_path):
    web = add_conversation(db, Channel.WEBCHAT, "w1", T0)
    labels = {"koble meg til skranken nå": "human_handoff", "mitt fnr er [fødselsnummer]": "login",
              "hva blir været i morgen": "out_of_scope", "hei": "greet",  # "hei" is known
              "asdfgh": "ignore"}
    for text, label in labels.items():
        annotate(db, add_message(db, web, text).id, label, staff_id=1, now=T0)
    db.commit()
    root = tmp_path / "root"
    build_training_root(db, root, None)
    result = subprocess.run(
        [sys.executable, "-m", "channels.rasa_main", "data", "validate", "--domain",
         str(root / "bot" / "domain"), "--data", str(root / "data" / "nlu"),
         str(root / "data" / "rules"), "--config", str(root / "config.yml"),
         "--fail-on-warnings"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_model_commands_refuse_clearly(database_url, tmp_path):
    from click.testing import CliRunner

    from assistant.cli import main

    env = {"DATABASE_URL": database_url, "ASSISTANT_ENV": "test",
           "ASSISTANT_VAR_DIR": str(tmp_path / "var")}
    runner = CliRunner()
    for args, message in ((["activate", "--staff-id", "1", "99"], "No model version 99."),
                          (["rollback", "--staff-id", "1"], "no earlier version"),
                          (["evaluate", "--staff-id", "1", "99"], "No model version 99"),
                          (["cancel", "--staff-id", "1", "5"], "No training job 5.")):
        result = runner.invoke(main, ["model", *args], env=env)
        assert result.exit_code == 1 and message in result.output, result.output
    result = runner.invoke(main, ["model", "list"], env=env)
    assert result.exit_code == 0 and "macro-F1" in result.output


def test_model_evaluate_queues_the_job_and_follows_it(app, db, database_url, settings):
    from click.testing import CliRunner

    from assistant.cli import main

    _, candidate = active_and_candidate(db, settings.var_dir / "models")
    env = {"DATABASE_URL": database_url, "ASSISTANT_ENV": "test",
           "ASSISTANT_VAR_DIR": str(settings.var_dir)}
    runner = CliRunner()
    detached = runner.invoke(main, ["model", "evaluate", "--staff-id", "1", "--detach",
                                    str(candidate)], env=env)
    assert detached.exit_code == 0, detached.output
    assert f"Evaluation job 1 queued for version {candidate}" in detached.output
    ended_job(app, 1)
    followed = runner.invoke(main, ["model", "evaluate", "--staff-id", "1", str(candidate)],
                             env=env)
    assert followed.exit_code == 1
    assert f"Evaluation job 2 queued for version {candidate}" in followed.output
    assert (f"Evaluation job 2 failed: The file of model version {candidate} is not a Rasa "
            "model archive") in followed.output
    listed = runner.invoke(main, ["model", "list"], env=env)
    assert "job 2 (evaluate): failed" in listed.output
