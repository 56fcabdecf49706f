"""NLU quality: Rasa's cross-validation and the intent report it writes."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict

from portal.config import PROJECT_ROOT


@dataclass(frozen=True)
class IntentReport:
    path: Path
    macro_f1: float
    weighted_f1: float
    accuracy: float
    per_intent: Dict[str, float]

    @classmethod
    def load(cls, path: Path) -> "IntentReport":
        data = json.loads(path.read_text())
        skip = {"accuracy", "macro avg", "weighted avg", "micro avg"}
        return cls(path=path, macro_f1=data["macro avg"]["f1-score"],
                   weighted_f1=data["weighted avg"]["f1-score"],
                   accuracy=data.get("accuracy", data.get("micro avg", {}).get("f1-score", 0)),
                   per_intent={k: v["f1-score"] for k, v in data.items() if k not in skip})


def cross_validate(out: Path, folds: int = 5) -> IntentReport:
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "channels.rasa_main", "test", "nlu",
                    "--nlu", str(PROJECT_ROOT / "data" / "nlu"),
                    "--config", str(PROJECT_ROOT / "config.yml"),
                    "--cross-validation", "--folds", str(folds), "--out", str(out)],
                   check=True, cwd=PROJECT_ROOT)
    return IntentReport.load(out / "intent_report.json")
