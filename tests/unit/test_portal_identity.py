"""Norwegian identifiers: fødselsnummer and D-number, mobile numbers, KID, account numbers."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from stdnum.no.fodselsnummer import calc_check_digit1, calc_check_digit2

from portal.errors import InvalidInput
from portal.identity import (
    format_account,
    is_valid_fnr,
    normalize_account,
    normalize_fnr,
    normalize_kid,
    normalize_mobile,
)
from tests.conftest import AISHA, KARI, NINA, OLA, PER, UNKNOWN

DEMO_NUMBERS = [KARI, OLA, AISHA, PER, NINA, UNKNOWN]


def with_check_digits(first_nine: str) -> str:
    k1 = calc_check_digit1(first_nine)
    k2 = calc_check_digit2(first_nine + k1)
    assert len(k1) == len(k2) == 1, "no valid number exists for these nine digits"
    return first_nine + k1 + k2


def _code(excinfo) -> str:
    return excinfo.value.code


# --- fødselsnummer -------------------------------------------------------------------------

@pytest.mark.parametrize("fnr", DEMO_NUMBERS)
def test_demo_numbers_are_synthetic(fnr):
    assert normalize_fnr(fnr, allow_synthetic=True) == fnr
    assert 81 <= int(fnr[2:4]) <= 92  # Tenor: month + 80
    with pytest.raises(InvalidInput) as excinfo:
        normalize_fnr(fnr, allow_synthetic=False)
    assert _code(excinfo) == "invalid_fnr"
    assert is_valid_fnr(fnr, allow_synthetic=True)
    assert not is_valid_fnr(fnr, allow_synthetic=False)


def test_an_ordinary_number_is_accepted_either_way():
    fnr = with_check_digits("150585123")  # born 15 May 1985
    assert normalize_fnr(fnr, allow_synthetic=False) == fnr
    assert normalize_fnr(fnr, allow_synthetic=True) == fnr
    assert normalize_fnr(f" {fnr[:6]} {fnr[6:]} ", allow_synthetic=False) == fnr
    assert normalize_fnr(f"{fnr[:6]}-{fnr[6:]}", allow_synthetic=False) == fnr


def test_a_d_number_is_accepted():
    d_number = with_check_digits("550585123")  # day 15 + 40
    assert normalize_fnr(d_number, allow_synthetic=False) == d_number
    last_day = with_check_digits("711085123")  # 31 October + 40
    assert normalize_fnr(last_day, allow_synthetic=False) == last_day
    with pytest.raises(InvalidInput):
        normalize_fnr(d_number[:10] + str((int(d_number[10]) + 1) % 10),
                      allow_synthetic=False)


@pytest.mark.parametrize("first_nine", [
    "310290123",   # 31 February
    "290290123",   # 29 February 1990 (not a leap year)
    "321085123",   # day 32
    "001085123",   # day 0
    "151385123",   # month 13
    "150085123",   # month 0
    "721085120",   # D-number for day 32
])
def test_impossible_dates_are_rejected(first_nine):
    number = with_check_digits(first_nine)
    for allow in (True, False):
        with pytest.raises(InvalidInput) as excinfo:
            normalize_fnr(number, allow_synthetic=allow)
        assert _code(excinfo) == "invalid_fnr"


def test_impossible_synthetic_month_is_rejected():
    number = with_check_digits("149385123")  # month 93 - 80 = 13
    with pytest.raises(InvalidInput):
        normalize_fnr(number, allow_synthetic=True)


def test_a_birth_date_in_the_future_is_rejected():
    future = date.today() + timedelta(days=400)
    # Individual numbers 500-999 with a two-digit year below 40 mean born 2000-2039.
    number = next(n for n in (f"{future:%d%m%y}{i}" for i in range(500, 600))
                  if len(calc_check_digit1(n)) == 1
                  and len(calc_check_digit2(n + calc_check_digit1(n))) == 1)
    number = with_check_digits(number)
    with pytest.raises(InvalidInput) as excinfo:
        normalize_fnr(number, allow_synthetic=False)
    assert "future" in excinfo.value.message


@pytest.mark.parametrize("value", [
    KARI[:9] + str((int(KARI[9]) + 1) % 10) + KARI[10],   # first control digit wrong
    KARI[:10] + str((int(KARI[10]) + 1) % 10),             # second control digit wrong
    KARI[:10], KARI + "1", "", "abcdefghijk", "1483854203x", "14838.542035",
    "١٤٨٣٨٥٤٢٠٣٥",  # the right digits, in Arabic-Indic script
    "²4838542035",   # a superscript two passes str.isdigit()
])
def test_malformed_numbers_are_rejected(value):
    with pytest.raises(InvalidInput) as excinfo:
        normalize_fnr(value, allow_synthetic=True)
    assert _code(excinfo) == "invalid_fnr"


@pytest.mark.parametrize("value", [int(KARI), None, [KARI], {"fnr": KARI}, 1.5, True])
def test_non_strings_are_rejected(value):
    with pytest.raises(InvalidInput) as excinfo:
        normalize_fnr(value, allow_synthetic=True)
    assert _code(excinfo) == "invalid_fnr"


# --- mobile numbers ------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("91234567", "+4791234567"),
    ("41234567", "+4741234567"),
    ("+4791234567", "+4791234567"),
    ("+47 912 34 567", "+4791234567"),
    ("912 34 567", "+4791234567"),
    ("0047 91234567", "+4791234567"),
    ("(+47) 912-34-567", "+4791234567"),
])
def test_mobile_numbers_are_normalized(value, expected):
    assert normalize_mobile(value) == expected


@pytest.mark.parametrize("value", [
    "+4731234567",      # landline (starts with 3)
    "31234567",
    "+4781234567",
    "9123456",          # seven digits
    "912345678",        # nine digits
    "+46701234567",     # Swedish
    "+47912345678",
    "4791234567",       # country code without +
    "",
    "mobil",
    "+479123456a",
    "+479١٢٣٤٥٦٧",     # Arabic-Indic digits
    "９１２３４５６７",   # full-width digits
    12345678,
    None,
])
def test_invalid_mobile_numbers_are_rejected(value):
    with pytest.raises(InvalidInput) as excinfo:
        normalize_mobile(value)
    assert _code(excinfo) == "invalid_mobile"


# --- KID -----------------------------------------------------------------------------------

def test_kid_mod10():
    # The demo invoices use MOD10 (Luhn) KIDs.
    assert normalize_kid("202701148385000113") == "202701148385000113"
    assert normalize_kid("2027 0114 8385 0001 13") == "202701148385000113"
    assert normalize_kid("79927398713") == "79927398713"  # the textbook Luhn example


def test_kid_mod11():
    # 1234567: 7*2 + 6*3 + 5*4 + 4*5 + 3*6 + 2*7 + 1*2 = 106; 106 % 11 = 7; 11 - 7 = 4.
    assert normalize_kid("12345674") == "12345674"
    # 1009: 9*2 + 1*5 = 23; 23 % 11 = 1; 11 - 1 = 10, written '-'.
    assert normalize_kid("1009-") == "1009-"
    # 1003: 3*2 + 1*5 = 11; 11 % 11 = 0; 11 - 0 = 11, written 0.
    assert normalize_kid("10030") == "10030"


@pytest.mark.parametrize("value", [
    "202701148385000114",   # neither MOD10 nor MOD11
    "12345675",
    "1009-0", "1008-", "-", "1-23",
    "1",                    # too short
    "1" * 25 + "0",         # too long
    "12a45674", "", "١٢٣٤٥٦٧٤",
    "١٠٠٩-",                # a valid MOD11 KID, but in Arabic-Indic digits
    "1009-\n",
    12345674, None,
])
def test_invalid_kids_are_rejected(value):
    with pytest.raises(InvalidInput) as excinfo:
        normalize_kid(value)
    assert _code(excinfo) == "invalid_kid"


def test_every_demo_kid_is_valid():
    import yaml

    from portal.services.demo import DEMO_FILE

    spec = yaml.safe_load(DEMO_FILE.read_text(encoding="utf-8"))
    kids = [i["kid"] for c in spec["citizens"] for i in c.get("invoices") or []]
    assert len(kids) == 6
    assert [normalize_kid(kid) for kid in kids] == kids


# --- account numbers -----------------------------------------------------------------------

@pytest.mark.parametrize("value", ["15031234562", "1503.12.34562", "1503 12 34562"])
def test_account_numbers(value):
    assert normalize_account(value) == "15031234562"
    assert format_account("15031234562") == "1503.12.34562"


@pytest.mark.parametrize("value", [
    "15031234563",    # wrong MOD11 check digit
    "1503123456",     # ten digits
    "150312345620",   # twelve digits
    "1503123456x",
    "",
    15031234562,
    None,
])
def test_invalid_account_numbers_are_rejected(value):
    with pytest.raises(InvalidInput) as excinfo:
        normalize_account(value)
    assert _code(excinfo) == "invalid_account"
