"""Training the Rasa model when none matches the training data."""
from __future__ import annotations

import fcntl
import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional

from portal.config import PROJECT_ROOT

TRAINING_INPUTS = ("config.yml", "bot/domain", "data/nlu", "data/rules", "data/stories")


def fingerprint(root: Path = PROJECT_ROOT) -> str:
    """A hash of everything training reads."""
    digest = hashlib.sha256()
    for name in TRAINING_INPUTS:
        path = root / name
        files = sorted(path.rglob("*.yml")) if path.is_dir() else [path]
        for file in files:
            if file.exists():
                digest.update(str(file.relative_to(root)).encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def model_path(models_dir: Path, root: Path = PROJECT_ROOT) -> Path:
    return models_dir / f"bot-{fingerprint(root)}.tar.gz"


def training_data_dirs(root: Path = PROJECT_ROOT) -> list:
    """The folders of training data, relative to the root (out_of_scope/ holds the sources)."""
    return [d for d in ("data/nlu", "data/rules", "data/stories") if (root / d).exists()]


def train_args(out: Path, fixed_name: str, root: Path = PROJECT_ROOT) -> list:
    data = [str(root / d) for d in training_data_dirs(root)]
    return [sys.executable, "-m", "channels.rasa_main", "train", "--config",
            str(root / "config.yml"), "--domain", str(root / "bot" / "domain"),
            "--data", *data, "--out", str(out), "--fixed-model-name", fixed_name]


def ensure_model(models_dir: Path, env: Optional[Dict[str, str]] = None,
                 quiet: bool = False) -> Path:
    """Returns the model for the current training data, training it first if needed."""
    path = model_path(models_dir)
    if path.exists():
        return path
    models_dir.mkdir(parents=True, exist_ok=True)
    # One training per models folder: a second process waits for it, then finds the model.
    with open(models_dir / ".training.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            return path
        name = path.name[: -len(".tar.gz")]
        print(f"Training the bot model ({name}); this takes a few minutes the first time …",
              flush=True)
        subprocess.run(train_args(models_dir, name), check=True, env=env, cwd=PROJECT_ROOT,
                       stdout=subprocess.DEVNULL if quiet else None)
    return path
