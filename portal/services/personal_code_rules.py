"""What a personal code may be: 4 to 8 digits, not one digit repeated, not a run, not the
citizen's birth date."""
from __future__ import annotations

import re

from portal.errors import InvalidInput
from portal.identity import birth_date

MIN_DIGITS, MAX_DIGITS = 4, 8
_DIGITS = re.compile(r"[0-9]{%d,%d}" % (MIN_DIGITS, MAX_DIGITS))


def _is_run(code: str) -> bool:
    """1234, 6789, 9876 (each digit one up, or each one down, from the one before)."""
    steps = {int(b) - int(a) for a, b in zip(code, code[1:])}
    return steps in ({1}, {-1})


def birth_date_forms(fnr: str) -> set:
    """DDMM, DDMMYY and DDMMYYYY of the birth date in the fødselsnummer."""
    born = birth_date(fnr)
    return {born.strftime("%d%m"), born.strftime("%d%m%y"), born.strftime("%d%m%Y")}


def check(code: object, fnr: str) -> str:
    """Returns the code if it keeps every rule, else raises InvalidInput naming the rule."""
    if not isinstance(code, str) or not _DIGITS.fullmatch(code):
        raise InvalidInput("A personal code is 4 to 8 digits.", code="personal_code_format")
    if len(set(code)) == 1:
        raise InvalidInput("A personal code may not be one digit repeated.",
                           code="personal_code_repeated")
    if _is_run(code):
        raise InvalidInput("A personal code may not be a run of digits such as 1234 or 9876.",
                           code="personal_code_run")
    if code in birth_date_forms(fnr):
        raise InvalidInput("A personal code may not be your birth date.",
                           code="personal_code_birth_date")
    return code
