"""A candidate and the active model side by side: Rasa's NLU evaluation on the held-out set
and the conversation tests (tests/test_*.yml). Three steps, so that no database transaction
stays open while Rasa runs: plan (checks, held-out set on disk), run_tests, store."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

import yaml

from portal.config import PROJECT_ROOT
from portal.models import ModelEvaluation
from portal.services.audit import record
from portal.training.annotations import FALLBACK_INTENT, OUT_OF_SCOPE, staff_actor
from portal.training.data import write_heldout
from portal.training.jobs import JobFailed
from portal.training.models import get_version

RASA = [sys.executable, "-m", "channels.rasa_main"]
CONVERSATION_TESTS = PROJECT_ROOT / "tests"
REJECTED = {OUT_OF_SCOPE, FALLBACK_INTENT}
TEST_NAMES = {"core": "rasa test core (candidate)", "candidate": "rasa test nlu (candidate)",
              "baseline": "rasa test nlu (model in service)"}


@dataclass(frozen=True)
class Plan:
    """What one evaluation runs: both models, the held-out set written to its work folder."""
    candidate_id: int
    candidate_path: str
    baseline_path: str
    baseline_id: Optional[int]
    work_dir: Path
    heldout_size: int
    expected: Dict[str, str]  # held-out text -> its annotated intent


def _nlu_args(model: str, heldout: Path, out: Path) -> List[str]:
    return RASA + ["test", "nlu", "--model", model, "--nlu", str(heldout), "--out", str(out),
                   "--successes", "--no-plot"]


def _core_args(model: str, out: Path) -> List[str]:
    return RASA + ["test", "core", "--model", model, "--stories", str(CONVERSATION_TESTS),
                   "--fail-on-prediction-errors", "--out", str(out), "--no-plot"]


def _is_rasa_model(path: str) -> bool:
    """A gzipped tar archive with Rasa's metadata.json in it."""
    try:
        with tarfile.open(path, "r:gz") as archive:
            return any(member.name == "metadata.json" for member in archive)
    except (tarfile.TarError, OSError, EOFError):
        return False


def _check_archive(path: str, what: str) -> None:
    """A model file that is gone or not a Rasa model archive fails before Rasa is started
    (else a broken candidate would only fail the conversation tests, and look worse)."""
    if not Path(path).is_file():
        raise JobFailed(f"The file of {what} is gone: {Path(path).name}.")
    if not _is_rasa_model(path):
        raise JobFailed(f"The file of {what} is not a Rasa model archive: {Path(path).name}.")


def _expected(heldout: Path) -> Dict[str, str]:
    data = yaml.safe_load(heldout.read_text()) or {}
    expected = {}
    for item in data.get("nlu") or []:
        for line in item["examples"].splitlines():
            if line.strip().startswith("- "):
                expected[line.strip()[2:]] = item["intent"]
    return expected


def plan(db, candidate_id: int, baseline_path: str, baseline_id: Optional[int],
         work_dir: Path) -> Plan:
    """Checks both model files and writes the held-out set under `work_dir`."""
    candidate = get_version(db, candidate_id)
    _check_archive(candidate.path, f"model version {candidate_id}")
    _check_archive(baseline_path, "the model in service")
    work_dir.mkdir(parents=True, exist_ok=True)
    heldout = work_dir / "heldout.yml"
    size = write_heldout(db, heldout)
    return Plan(candidate_id, candidate.path, baseline_path, baseline_id, work_dir, size,
                _expected(heldout))


def _commands(plan: Plan) -> Dict[str, List[str]]:
    commands = {"core": _core_args(plan.candidate_path, plan.work_dir / "core")}
    if plan.heldout_size:
        heldout = plan.work_dir / "heldout.yml"
        commands["candidate"] = _nlu_args(plan.candidate_path, heldout,
                                          plan.work_dir / "candidate")
        commands["baseline"] = _nlu_args(plan.baseline_path, heldout,
                                         plan.work_dir / "baseline")
    return commands


def _append(log_path: Path, name: str, code: int, output: Path) -> None:
    with open(log_path, "ab") as log:
        log.write(f"\n=== {TEST_NAMES[name]}: exit code {code} ===\n".encode())
        log.write(output.read_bytes())


def run_tests(plan: Plan, log_path: Path,
              on_finished: Callable[[int, int], None] = lambda done, total: None
              ) -> Dict[str, int]:
    """Runs the Rasa evaluations side by side; each one's output joins `log_path` when it
    ends. Returns their exit codes."""
    logs = plan.work_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
    running = {}
    for name, args in _commands(plan).items():
        with open(logs / f"{name}.log", "wb") as log:
            running[name] = subprocess.Popen(args, cwd=PROJECT_ROOT, stdout=log,
                                             stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, env=env)
    codes: Dict[str, int] = {}
    while len(codes) < len(running):
        for name, process in running.items():
            if name not in codes and process.poll() is not None:
                codes[name] = process.returncode
                _append(log_path, name, process.returncode, logs / f"{name}.log")
                on_finished(len(codes), len(running))
        time.sleep(0.5)
    return codes


def nlu_figures(out: Path, expected: Dict[str, str]) -> Dict:
    """Per-intent precision/recall/F1, macro-F1 over the held-out intents, out-of-scope
    rejection and each message's prediction, from Rasa's report files."""
    report = json.loads((out / "intent_report.json").read_text())
    predictions = {}
    for name in ("intent_successes.json", "intent_errors.json"):
        if (out / name).exists():
            for item in json.loads((out / name).read_text()):
                predictions[item["text"]] = (item["intent_prediction"] or {}).get("name")
    per_intent = {}
    for intent in sorted(set(expected.values())):
        row = report.get(intent, {})
        per_intent[intent] = {"precision": row.get("precision", 0.0),
                              "recall": row.get("recall", 0.0),
                              "f1": row.get("f1-score", 0.0),
                              "support": row.get("support", 0)}
    macro = (sum(r["f1"] for r in per_intent.values()) / len(per_intent)) if per_intent else None
    oos = [t for t, i in expected.items() if i == OUT_OF_SCOPE]
    rejection = (sum(1 for t in oos if predictions.get(t) in REJECTED) / len(oos)) if oos \
        else None
    return {"per_intent": per_intent, "macro_f1": macro, "out_of_scope_rejection": rejection,
            "predictions": predictions}


def failing_conversation_tests(out: Path, exit_code: int) -> List[str]:
    """The names of the conversation tests that failed (or the run itself, if it crashed)."""
    failed = out / "failed_test_stories.yml"
    names: List[str] = []
    if failed.exists():
        data = yaml.safe_load(failed.read_text()) or {}
        names = [s.get("story") or s.get("rule") or "?" for s in data.get("stories", [])]
    if exit_code != 0 and not names:
        names = [f"rasa test core exited with code {exit_code}"]
    return names


def store(db, plan: Plan, codes: Dict[str, int], staff_id: int, now) -> ModelEvaluation:
    """Reads Rasa's reports and stores the comparison (audited as `model.evaluate`); an NLU
    run that failed raises JobFailed instead."""
    failing = failing_conversation_tests(plan.work_dir / "core", codes["core"])
    sides = {}
    for side in ("candidate", "baseline"):
        if side in codes:
            if codes[side] != 0:
                raise JobFailed(f"{TEST_NAMES[side]} exited with code {codes[side]}; its "
                                "output is in the job log.")
            sides[side] = nlu_figures(plan.work_dir / side, plan.expected)
    cand, base = sides.get("candidate", {}), sides.get("baseline", {})
    changed = [{"text": t, "expected": i, "before": base["predictions"].get(t),
                "after": cand["predictions"].get(t)}
               for t, i in plan.expected.items()
               if base and base["predictions"].get(t) != cand["predictions"].get(t)]
    cand_f1, base_f1 = cand.get("macro_f1"), base.get("macro_f1")
    worse = bool(failing) or (cand_f1 is not None and base_f1 is not None
                              and cand_f1 < base_f1)
    strip = lambda side: {k: v for k, v in side.items() if k != "predictions"}  # noqa: E731
    row = ModelEvaluation(
        candidate_id=plan.candidate_id, baseline_id=plan.baseline_id,
        baseline_path=plan.baseline_path, at=now, heldout_size=plan.heldout_size,
        candidate_macro_f1=cand_f1, baseline_macro_f1=base_f1,
        candidate_failed_tests=len(failing), worse=worse,
        report={"candidate": strip(cand), "baseline": strip(base), "changed": changed,
                "failing_conversation_tests": failing, "work_dir": str(plan.work_dir)})
    db.add(row)
    db.flush()
    record(db, staff_actor(staff_id), "model.evaluate", at=now, object_type="model_version",
           object_id=plan.candidate_id, detail={"evaluation": row.id, "worse": worse,
                                                "candidate_macro_f1": cand_f1,
                                                "baseline_macro_f1": base_f1})
    return row
