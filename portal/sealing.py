"""Values kept encrypted at rest (Fernet), under a key setting that can be rotated.

A key setting holds one or more high-entropy strings, comma-separated: the first seals, every
one opens, so a key is rotated by putting the new one first and dropping the old one once
nothing sealed with it is left (`reseal`).
"""
from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

PREFIX = "fernet:"  # the mark of a sealed value


class CannotOpen(ValueError):
    """A sealed value that none of the configured keys opens."""


def _cipher(keys: str, setting: str) -> MultiFernet:
    parts = [k.strip() for k in (keys or "").split(",") if k.strip()]
    if not parts:
        raise ValueError(f"{setting} is not set: nothing can be sealed or opened")
    return MultiFernet([Fernet(base64.urlsafe_b64encode(hashlib.sha256(k.encode()).digest()))
                        for k in parts])


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)


def seal(keys: str, value: str, setting: str) -> str:
    return PREFIX + _cipher(keys, setting).encrypt(value.encode()).decode()


def open_sealed(keys: str, stored: str, setting: str) -> str:
    """The value of a stored string; one stored before sealing began is returned as it is."""
    if not is_sealed(stored):
        return stored
    try:
        return _cipher(keys, setting).decrypt(stored[len(PREFIX):].encode()).decode()
    except InvalidToken as exc:
        raise CannotOpen(f"a sealed value cannot be opened with this {setting}") from exc


def reseal(keys: str, stored: str, setting: str) -> str:
    """The stored string sealed with the first key (a plain one sealed for the first time)."""
    if not is_sealed(stored):
        return seal(keys, stored, setting)
    try:
        return PREFIX + _cipher(keys, setting).rotate(stored[len(PREFIX):].encode()).decode()
    except InvalidToken as exc:
        raise CannotOpen(f"a sealed value cannot be opened with this {setting}") from exc
