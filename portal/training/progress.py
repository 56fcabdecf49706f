"""Rasa's training output as a percentage that only goes up, and the stage it is in."""
from __future__ import annotations

import re


def _progress_rules():
    """(pattern, percent or None, stage) in training order; Rasa 3.6's log and tqdm lines."""
    return [
        (re.compile(r"Started validating domain and training data"), 3, "validating"),
        (re.compile(r"(?:Starting to train|Restored) component '(RegexFeaturizer)'"), 8, None),
        (re.compile(r"(?:Starting to train|Restored) component '(LexicalSyntacticFeaturizer)'"),
         12, None),
        (re.compile(r"(?:Starting to train|Restored) component '(CountVectorsFeaturizer)'"),
         18, None),
        (re.compile(r"(?:Starting to train|Restored) component '(DIETClassifier)'"), 30, None),
        (re.compile(r"Finished training component '(DIETClassifier)'"), 85, "core"),
        (re.compile(r"Processed (?:rules|trackers|story blocks)"), 90, "core"),
        (re.compile(r"Your Rasa model is trained and saved"), 98, "saving"),
    ]


class ProgressParser:
    """Turns Rasa's training output into a monotonic percentage and a stage name."""

    EPOCHS = re.compile(r"Epochs:\s+\d+%\|[^|]*\|\s*(\d+)/(\d+)")

    def __init__(self):
        self.percent = 0
        self.stage = "starting"
        self.rules = _progress_rules()

    def feed(self, line: str) -> None:
        epochs = self.EPOCHS.search(line)
        if epochs:
            done, total = int(epochs.group(1)), int(epochs.group(2))
            self._set(30 + (55 * done) // max(total, 1), f"NLU epoch {done}/{total}")
            return
        for pattern, percent, stage in self.rules:
            match = pattern.search(line)
            if match:
                name = match.group(1) if match.groups() else None
                self._set(percent, stage or f"training {name}")
                return

    def _set(self, percent: int, stage: str) -> None:
        if percent >= self.percent:
            self.percent, self.stage = percent, stage
