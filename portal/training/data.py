"""Training data on disk: the annotations as Rasa YAML, and the folder a training reads."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set

import yaml
from sqlalchemy.orm import Session

from portal.config import PROJECT_ROOT
from portal.training.annotations import training_examples

ANNOTATED_FILE = Path("data") / "nlu" / "annotated.yml"
TRAINING_DIRS = ("data/nlu", "data/rules", "data/stories")
EPOCHS_SCALE_ENV = "TRAINING_EPOCHS_SCALE"

HEADER = """# Citizen messages annotated by admins (written by `assistant nlu-export`; do not edit
# by hand, annotate in the portal instead). Redaction placeholders such as [fødselsnummer]
# are kept as written. The held-out share of the annotations is never written here.
"""


def one_line(text: str) -> str:
    return " ".join(text.split())


def nlu_yaml(examples: Dict[str, List[str]], header: str = HEADER) -> str:
    """Rasa 3 NLU YAML, one block per intent."""
    lines = [header.rstrip("\n"), 'version: "3.1"', ""]
    if not examples:
        return "\n".join(lines + ["nlu: []", ""])
    lines.append("nlu:")
    for intent in sorted(examples):
        lines += [f"  - intent: {intent}", "    examples: |"]
        lines += [f"      - {one_line(text)}" for text in examples[intent]]
    return "\n".join(lines) + "\n"


def base_texts(root: Path = PROJECT_ROOT) -> Set[str]:
    """Every example text the hand-written NLU data already has (annotated.yml aside)."""
    texts: Set[str] = set()
    for path in sorted((root / "data" / "nlu").rglob("*.yml")):
        if path.resolve() == (root / ANNOTATED_FILE).resolve():
            continue
        for item in (yaml.safe_load(path.read_text()) or {}).get("nlu", []) or []:
            for line in str(item.get("examples", "")).splitlines():
                if line.strip().startswith("- "):
                    texts.add(one_line(line.strip()[2:]))
    return texts


def annotated_examples(db: Session, root: Path = PROJECT_ROOT) -> Dict[str, List[str]]:
    """The accepted, trainable annotations not already in the hand-written data."""
    known = base_texts(root)
    examples = {}
    for intent, texts in training_examples(db, held_out=False).items():
        fresh = [t for t in texts if one_line(t) not in known]
        if fresh:
            examples[intent] = fresh
    return examples


def export_annotations(db: Session, path: Path = PROJECT_ROOT / ANNOTATED_FILE) -> int:
    """Writes data/nlu/annotated.yml; returns how many examples it holds."""
    examples = annotated_examples(db)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nlu_yaml(examples), encoding="utf-8")
    return sum(len(v) for v in examples.values())


def write_heldout(db: Session, path: Path) -> int:
    """The held-out set as Rasa YAML (for `rasa test nlu`); returns its size."""
    examples = {intent: [one_line(t) for t in texts]
                for intent, texts in training_examples(db, held_out=True).items()}
    path.write_text(nlu_yaml(examples, header="# Held-out annotations: never trained on.\n"),
                    encoding="utf-8")
    return sum(len(v) for v in examples.values())


def epochs_scale(env=os.environ) -> Optional[float]:
    """TRAINING_EPOCHS_SCALE (e.g. 0.25 in CI): the same pipeline with fewer epochs."""
    value = env.get(EPOCHS_SCALE_ENV, "").strip()
    if not value:
        return None
    scale = float(value)
    if not 0 < scale <= 1:
        raise ValueError(f"{EPOCHS_SCALE_ENV} must be in (0, 1], not {value}")
    return scale


def scaled_config(text: str, scale: Optional[float]) -> str:
    """config.yml with every component's `epochs` multiplied by `scale` (at least 1)."""
    if scale is None:
        return text
    config = yaml.safe_load(text)
    for component in config.get("pipeline", []) + config.get("policies", []):
        if "epochs" in component:
            component["epochs"] = max(1, round(component["epochs"] * scale))
    return yaml.safe_dump(config, allow_unicode=True, sort_keys=False)


def _copy(paths: Iterable[str], source: Path, dest: Path) -> None:
    for name in paths:
        if (source / name).exists():
            shutil.copytree(source / name, dest / name)


def build_training_root(db: Session, dest: Path, scale: Optional[float],
                        source: Path = PROJECT_ROOT) -> int:
    """A copy of what training reads (config, domain, data) with the annotations from the
    database as data/nlu/annotated.yml; returns the number of annotated examples."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "config.yml").write_text(scaled_config((source / "config.yml").read_text(), scale))
    _copy(("bot/domain",) + TRAINING_DIRS, source, dest)
    examples = annotated_examples(db, source)
    (dest / ANNOTATED_FILE).parent.mkdir(parents=True, exist_ok=True)
    (dest / ANNOTATED_FILE).write_text(nlu_yaml(examples), encoding="utf-8")
    return sum(len(v) for v in examples.values())
