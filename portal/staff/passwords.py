"""The minimum password rules for staff accounts."""
from __future__ import annotations

from typing import Optional

MIN_LENGTH = 12

# The most common passwords of 12+ characters in public breach lists, plus local favourites.
COMMON = frozenset({
    "123456789012", "1234567890123", "12345678901234", "qwertyuiopas", "qwertyuiop123",
    "password1234", "password12345", "passord12345", "passord123456", "passordpassord",
    "passwordpassword", "iloveyou1234", "111111111111", "000000000000", "123123123123",
    "abcdefghijkl", "abc123abc123", "aaaaaaaaaaaa", "qwerty123456", "1q2w3e4r5t6y",
    "letmein12345", "welcome12345", "velkommen123", "velkommen1234", "sommer2024!!",
    "sommeren2025", "vinteren2025", "bergen123456", "bergenkommune", "brann1908brann",
    "administrator", "adminadmin123", "changeme1234", "qwertyqwerty", "trustno1trustno1",
    "football1234", "baseball1234", "superman1234", "starwars1234", "princess1234",
})


def password_problem(password: str, email: str) -> Optional[str]:
    """The text key of the first rule the password breaks, or None."""
    if len(password) < MIN_LENGTH:
        return "password_too_short"
    folded = password.strip().lower()
    local = email.lower().partition("@")[0]
    if folded == email.lower() or folded == local or (len(local) >= 4 and local in folded
                                                      and len(folded) - len(local) < 6):
        return "password_is_email"
    if folded in COMMON or len(set(folded)) <= 2:
        return "password_common"
    return None
