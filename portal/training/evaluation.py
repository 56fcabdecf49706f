"""A candidate and the active model side by side: Rasa's NLU evaluation on the held-out set
and the conversation tests (tests/test_*.yml)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import yaml

from portal.config import PROJECT_ROOT
from portal.errors import NotFound
from portal.models import ModelEvaluation, ModelVersion
from portal.services.audit import record
from portal.training.annotations import FALLBACK_INTENT, OUT_OF_SCOPE, staff_actor
from portal.training.data import write_heldout

RASA = [sys.executable, "-m", "channels.rasa_main"]
CONVERSATION_TESTS = PROJECT_ROOT / "tests"
REJECTED = {OUT_OF_SCOPE, FALLBACK_INTENT}


def _nlu_args(model: str, heldout: Path, out: Path) -> List[str]:
    return RASA + ["test", "nlu", "--model", model, "--nlu", str(heldout), "--out", str(out),
                   "--successes", "--no-plot"]


def _core_args(model: str, out: Path) -> List[str]:
    return RASA + ["test", "core", "--model", model, "--stories", str(CONVERSATION_TESTS),
                   "--fail-on-prediction-errors", "--out", str(out), "--no-plot"]


def _run_all(commands: Dict[str, List[str]], logs: Path) -> Dict[str, int]:
    """Runs the Rasa evaluations side by side; returns their exit codes."""
    logs.mkdir(parents=True, exist_ok=True)
    running = {}
    for name, args in commands.items():
        log = open(logs / f"{name}.log", "wb")
        running[name] = (subprocess.Popen(args, cwd=PROJECT_ROOT, stdout=log,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          env=_env()), log)
    codes = {}
    for name, (process, log) in running.items():
        codes[name] = process.wait()
        log.close()
    return codes


def _env() -> Dict[str, str]:
    import os

    return {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}


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


def _expected(heldout: Path) -> Dict[str, str]:
    data = yaml.safe_load(heldout.read_text()) or {}
    expected = {}
    for item in data.get("nlu") or []:
        for line in item["examples"].splitlines():
            if line.strip().startswith("- "):
                expected[line.strip()[2:]] = item["intent"]
    return expected


def evaluate(db, candidate_id: int, baseline_path: str, baseline_id: Optional[int],
             work_dir: Path, staff_id: int, now) -> ModelEvaluation:
    """Runs the candidate and the baseline on the held-out set, and the candidate on the
    conversation tests; stores the comparison."""
    candidate = db.get(ModelVersion, candidate_id)
    if candidate is None or not Path(candidate.path).exists():
        raise NotFound(f"No model version {candidate_id} (or its file is gone).",
                       code="version_not_found")
    work_dir.mkdir(parents=True, exist_ok=True)
    heldout = work_dir / "heldout.yml"
    size = write_heldout(db, heldout)
    expected = _expected(heldout)
    commands = {"core": _core_args(candidate.path, work_dir / "core")}
    if size:
        commands["candidate"] = _nlu_args(candidate.path, heldout, work_dir / "candidate")
        commands["baseline"] = _nlu_args(baseline_path, heldout, work_dir / "baseline")
    codes = _run_all(commands, work_dir / "logs")
    failing = failing_conversation_tests(work_dir / "core", codes["core"])
    sides = {}
    for side in ("candidate", "baseline"):
        if side in codes:
            if codes[side] != 0:
                raise RuntimeError(f"rasa test nlu failed for the {side}; see "
                                   f"{work_dir / 'logs' / (side + '.log')}")
            sides[side] = nlu_figures(work_dir / side, expected)
    cand, base = sides.get("candidate", {}), sides.get("baseline", {})
    changed = [{"text": t, "expected": i, "before": base["predictions"].get(t),
                "after": cand["predictions"].get(t)}
               for t, i in expected.items()
               if base and base["predictions"].get(t) != cand["predictions"].get(t)]
    cand_f1, base_f1 = cand.get("macro_f1"), base.get("macro_f1")
    worse = bool(failing) or (cand_f1 is not None and base_f1 is not None
                              and cand_f1 < base_f1)
    strip = lambda side: {k: v for k, v in side.items() if k != "predictions"}  # noqa: E731
    row = ModelEvaluation(
        candidate_id=candidate_id, baseline_id=baseline_id, baseline_path=baseline_path,
        at=now, heldout_size=size, candidate_macro_f1=cand_f1, baseline_macro_f1=base_f1,
        candidate_failed_tests=len(failing), worse=worse,
        report={"candidate": strip(cand), "baseline": strip(base), "changed": changed,
                "failing_conversation_tests": failing, "work_dir": str(work_dir)})
    db.add(row)
    db.flush()
    record(db, staff_actor(staff_id), "model.evaluate", at=now, object_type="model_version",
           object_id=candidate_id, detail={"evaluation": row.id, "worse": worse,
                                           "candidate_macro_f1": cand_f1,
                                           "baseline_macro_f1": base_f1})
    return row
