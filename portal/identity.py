"""Validation of Norwegian identifiers: fødselsnummer, mobile numbers, KID and account numbers."""
from __future__ import annotations

import random
import re
from datetime import date, timedelta
from typing import Optional

from stdnum import luhn
from stdnum.exceptions import ValidationError
from stdnum.no import fodselsnummer, kontonr

from portal.errors import InvalidInput

# ASCII digits only: str.isdigit() and \d also match other scripts' digits and superscripts.
_MOBILE = re.compile(r"\+47[49][0-9]{7}")
_FNR = re.compile(r"[0-9]{11}")
_KID = re.compile(r"[0-9]{1,24}[0-9-]")


def _synthetic_to_real_month(number: str) -> str:
    """Test numbers (Skatteetaten/Tenor) add 80 to the month; map them back for the date check."""
    return number[:2] + f"{int(number[2:4]) - 80:02d}" + number[4:]


def synthetic_fnr(rng: random.Random) -> Optional[str]:
    """A synthetic fødselsnummer (month + 80, Skatteetaten/Tenor) with valid control digits."""
    born = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 50))
    individual = rng.randrange(0, 500)            # 000-499: born 1900-1999
    base = f"{born.day:02d}{born.month + 80:02d}{born.year % 100:02d}{individual:03d}"
    k1 = fodselsnummer.calc_check_digit1(base)
    if len(k1) != 1:
        return None
    k2 = fodselsnummer.calc_check_digit2(base + k1)
    if len(k2) != 1:
        return None
    return base + k1 + k2


def normalize_fnr(value: object, *, allow_synthetic: bool) -> str:
    """Returns an 11-digit fødselsnummer or D-number, or raises InvalidInput."""
    if not isinstance(value, str):
        raise InvalidInput("Fødselsnummer must be a string of 11 digits.", code="invalid_fnr")
    number = fodselsnummer.compact(value)
    if not _FNR.fullmatch(number):
        raise InvalidInput("Fødselsnummer must be 11 digits.", code="invalid_fnr")
    if (fodselsnummer.calc_check_digit1(number[:9]) != number[9]
            or fodselsnummer.calc_check_digit2(number[:10]) != number[10]):
        raise InvalidInput("Fødselsnummer has invalid control digits.", code="invalid_fnr")
    dated = number
    if int(number[2:4]) > 80:
        if not allow_synthetic:
            raise InvalidInput("Synthetic test numbers are not accepted here.",
                               code="invalid_fnr")
        dated = _synthetic_to_real_month(number)
    try:
        born = fodselsnummer.get_birth_date(dated)
    except ValidationError:
        raise InvalidInput("Fødselsnummer has an invalid birth date.", code="invalid_fnr")
    if born > date.today():
        raise InvalidInput("Fødselsnummer has a birth date in the future.", code="invalid_fnr")
    return number


def birth_date(fnr: str) -> date:
    """The birth date an 11-digit fødselsnummer (or D-number, or synthetic test number) holds."""
    dated = _synthetic_to_real_month(fnr) if int(fnr[2:4]) > 80 else fnr
    return fodselsnummer.get_birth_date(dated)


def is_valid_fnr(value: object, *, allow_synthetic: bool) -> bool:
    try:
        normalize_fnr(value, allow_synthetic=allow_synthetic)
    except InvalidInput:
        return False
    return True


def normalize_mobile(value: object) -> str:
    """Returns a Norwegian mobile number in E.164 (+47 and 8 digits starting with 4 or 9)."""
    if not isinstance(value, str):
        raise InvalidInput("Mobile number must be a string.", code="invalid_mobile")
    number = re.sub(r"[\s\-().]", "", value)
    if number.startswith("0047"):
        number = "+47" + number[4:]
    elif re.fullmatch(r"[49][0-9]{7}", number):
        number = "+47" + number
    if not _MOBILE.fullmatch(number):
        raise InvalidInput("Mobile number must be +47 followed by 8 digits starting with 4 or 9.",
                           code="invalid_mobile")
    return number


def _kid_mod11_check_digit(body: str) -> str:
    """MOD11 check digit of a KID: weights 2..7 from the right; 10 is written '-'."""
    total = sum(int(d) * (2 + i % 6) for i, d in enumerate(reversed(body)))
    check = 11 - total % 11
    return {10: "-", 11: "0"}.get(check, str(check))


def normalize_kid(value: object) -> str:
    """A KID (customer identification) of 2-25 digits with a valid MOD10 or MOD11 check digit."""
    if not isinstance(value, str):
        raise InvalidInput("KID must be a string.", code="invalid_kid")
    kid = value.replace(" ", "")
    if not _KID.fullmatch(kid) or len(kid) < 2:
        raise InvalidInput("KID must be 2 to 25 digits.", code="invalid_kid")
    if kid[-1] != "-" and luhn.is_valid(kid):
        return kid
    if _kid_mod11_check_digit(kid[:-1]) == kid[-1]:
        return kid
    raise InvalidInput("KID has an invalid check digit (neither MOD10 nor MOD11).",
                       code="invalid_kid")


def normalize_account(value: object) -> str:
    """A Norwegian bank account number (11 digits, MOD11)."""
    if not isinstance(value, str):
        raise InvalidInput("Account number must be a string.", code="invalid_account")
    try:
        number = kontonr.validate(value)
    except ValidationError:
        raise InvalidInput("Account number is not a valid Norwegian account number.",
                           code="invalid_account")
    if len(number) != 11:
        raise InvalidInput("Account number must have 11 digits.", code="invalid_account")
    return number


def format_account(number: str) -> str:
    return kontonr.format(number)
