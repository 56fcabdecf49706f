"""The assistant's log files under var/logs: removal by age, and scrubbing deleted texts.

Logs hold no fødselsnummer, code or phone number (portal/logredact.py), but Rasa's debug log
holds what citizens wrote. Old rotated files go with the retention purge; when a citizen
deletes a conversation its texts are replaced in the log files this host keeps.
"""
from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Iterable, List, Set

SCRUBBED = b"[slettet]"
# Shorter texts ("ja", "brev") are everyday words: replacing them would blank unrelated lines.
MIN_SCRUB_CHARS = 8


def _files(log_dir: Path) -> List[Path]:
    return sorted(p for p in log_dir.iterdir() if p.is_file()) if log_dir.is_dir() else []


def is_active(path: Path) -> bool:
    """A log a process appends to (`rasa.log`); rotated copies are `rasa.log.1`, `.gz`, ..."""
    return path.suffix == ".log"


def purge_old(log_dir: Path, cutoff: datetime) -> int:
    """Deletes rotated log files last written before `cutoff`, and empties active ones that
    were (a process appending to one keeps its handle: truncating is safe, deleting is not).
    Returns the files deleted or emptied."""
    done = 0
    for path in _files(log_dir):
        stat = path.stat()
        if stat.st_mtime >= cutoff.timestamp():
            continue
        if is_active(path):
            if stat.st_size:
                os.truncate(path, 0)
                done += 1
        else:
            path.unlink()
            done += 1
    return done


def _forms(text: str) -> Set[bytes]:
    """How a text appears in a log line: as written, JSON-escaped, and as Python's repr."""
    forms = {text, json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1],
             repr(text)[1:-1]}
    return {form.encode() for form in forms if form}


def scrub(log_dir: Path, texts: Iterable[str]) -> int:
    """Replaces every occurrence of these texts in the uncompressed log files in place (the
    file stays the one processes append to). Returns the files changed."""
    forms = sorted({f for t in texts if len((t or "").strip()) >= MIN_SCRUB_CHARS
                    for f in _forms(t.strip())}, key=len, reverse=True)
    if not forms:
        return 0
    changed = 0
    for path in _files(log_dir):
        if path.suffix in (".gz", ".bz2", ".xz", ".zst"):
            continue
        with open(path, "r+b") as handle:
            content = handle.read()
            cleaned = content
            for form in forms:
                cleaned = cleaned.replace(form, SCRUBBED)
            if cleaned == content:
                continue
            appended = handle.read()  # written by a process since we read
            handle.seek(0)
            handle.write(cleaned + appended)
            handle.truncate()
            changed += 1
    return changed
