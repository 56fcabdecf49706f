"""What the login steps share: finding a fødselsnummer, and the replies to too many codes, a
back-off or a lock."""
from __future__ import annotations

import math
import re
from typing import Optional

from actions.portal_client import PortalError
from actions.turn import Turn

FNR = re.compile(r"(?<!\d)(\d{6})\s?(\d{5})(?!\d)")


def find_fnr(turn: Turn) -> Optional[str]:
    value = turn.entity("fnr")
    match = FNR.search(value or turn.text)
    return "".join(match.groups()) if match else None


def say_refused_guess(turn: Turn, error: PortalError) -> bool:
    """Too many codes, a back-off or a lock, said in the citizen's words; False if not one."""
    if error.code == "too_many_codes":
        turn.say("utter_too_many_codes")
    elif error.code in ("login_locked", "login_backoff"):
        seconds = error.details.get("retry_after_seconds", 60)
        turn.say("utter_login_locked", retry_after_minutes=max(1, math.ceil(seconds / 60)))
    else:
        return False
    return True
