"""Tests for portal.sms.gsm (GSM-7 handling, segments, buttons and fit)."""

from __future__ import annotations

import math
import random

import pytest

from portal.sms import gsm as sms_format
from portal.texts.keywords import MORE_WORDS, is_more_request
from portal.sms.gsm import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    MORE_SUFFIX,
    choice_payload,
    count_segments,
    encoding,
    fit,
    is_gsm7,
    message_length,
    normalize_language,
    render_buttons,
    sanitize,
    split_segments,
)

try:  # property-based testing only when hypothesis happens to be installed
    from hypothesis import given, settings
    from hypothesis import strategies as st

    HAVE_HYPOTHESIS = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_HYPOTHESIS = False

NB_SUFFIX = "\nSvar MER for resten."
NN_SUFFIX = "\nSvar MER for resten."
EN_SUFFIX = "\nReply MORE for the rest."


# --------------------------------------------------------------------------
# Independent reference helpers (deliberately not using the module's internals)
# --------------------------------------------------------------------------


def ref_cost(char: str, enc: str) -> int:
    """Cost of one character: septets for GSM-7, UTF-16 code units for UCS-2."""
    if enc == "GSM-7":
        return 2 if char in "\f^{}\\[~]|€" else 1
    return len(char.encode("utf-16-le")) // 2


def ref_length(text: str, enc: str) -> int:
    """Total cost of text under the given encoding."""
    return sum(ref_cost(c, enc) for c in text)


def body_of(head: str, suffix: str = NB_SUFFIX) -> str:
    """Strip the MORE suffix from a fit() head, asserting it is there."""
    assert head.endswith(suffix), head
    return head[: -len(suffix)]


def drain(text: str, max_segments: int, language: str = "nb") -> list[str]:
    """Call fit() repeatedly until everything is consumed; return the SMS bodies."""
    suffix = MORE_SUFFIX[normalize_language(language)]
    pieces: list[str] = []
    rest: str | None = text
    for _ in range(10_000):
        sms, rest = fit(rest, max_segments=max_segments, language=language)
        assert count_segments(sms) <= max_segments, sms
        assert is_gsm7(sms)
        if rest is None:
            pieces.append(sms)
            return pieces
        assert rest == rest.strip() and rest
        pieces.append(body_of(sms, suffix))
    raise AssertionError("fit() did not consume the text")


# --------------------------------------------------------------------------
# GSM-7 tables
# --------------------------------------------------------------------------


def test_basic_table_has_127_distinct_characters_excluding_escape():
    assert len(GSM7_BASIC) == 127
    assert len(set(GSM7_BASIC)) == 127
    assert "\x1b" not in GSM7_BASIC


def test_basic_table_is_in_3gpp_order():
    # Spot-check code points of the 0x00-0x7F table (ESC at 0x1B removed).
    table = GSM7_BASIC[:0x1B] + "\x1b" + GSM7_BASIC[0x1B:]
    assert table[0x00] == "@"
    assert table[0x0A] == "\n"
    assert table[0x0D] == "\r"
    assert table[0x10] == "\u0394"  # GREEK CAPITAL LETTER DELTA
    assert table[0x1C:0x20] == "ÆæßÉ"
    assert table[0x24] == "¤"
    assert table[0x40] == "¡"
    assert table[0x5B:0x60] == "ÄÖÑÜ§"
    assert table[0x60] == "¿"
    assert table[0x7B:0x80] == "äöñüà"


def test_extension_table_contents():
    assert sorted(GSM7_EXTENSION) == sorted("\f^{}\\[~]|€")
    assert not set(GSM7_EXTENSION) & set(GSM7_BASIC)


@pytest.mark.parametrize(
    "char",
    list("æøåÆØÅÄÖÑÜ§¿äöñüàéÉèùìòÇß¡¤@£¥$_\n\r")
    + ["\u0394", "\u03a6", "\u0393", "\u039b", "\u03a9", "\u03a0", "\u03a8", "\u03a3", "\u0398", "\u039e"],
)
def test_basic_set_members(char):
    assert char in GSM7_BASIC
    assert is_gsm7(char)


@pytest.mark.parametrize(
    "char",
    ["á", "í", "ó", "ú", "ê", "ç", "ã", "`", "\t", "\u2019", "\u201c", "\u2013", "\u00a0",
     "\u03b1", "\u0391", "\U0001F600", "Ж", "中"],
)
def test_not_gsm7(char):
    assert not is_gsm7(char)
    assert not is_gsm7("abc" + char)
    assert encoding("Hei " + char) == "UCS-2"


def test_is_gsm7_accepts_extension_and_empty():
    assert is_gsm7("")
    assert is_gsm7("{[€]}|^~\\\f")
    assert encoding("") == "GSM-7"
    assert encoding("Blåbær koster 20€ [ca.]") == "GSM-7"


# --------------------------------------------------------------------------
# Segment counting
# --------------------------------------------------------------------------

SEGMENT_CASES = [
    # (id, text, segments, encoding)
    ("empty", "", 1, "GSM-7"),
    ("gsm-1", "a", 1, "GSM-7"),
    ("gsm-160", "a" * 160, 1, "GSM-7"),
    ("gsm-161", "a" * 161, 2, "GSM-7"),
    ("gsm-306", "a" * 306, 2, "GSM-7"),
    ("gsm-307", "a" * 307, 3, "GSM-7"),
    ("gsm-459", "a" * 459, 3, "GSM-7"),
    ("gsm-460", "a" * 460, 4, "GSM-7"),
    ("gsm-norwegian-letters-single-septet", "æøåÆØÅ" * 26 + "æøåÆ", 1, "GSM-7"),
    ("gsm-greek-capitals", "\u03a9" * 160, 1, "GSM-7"),
    ("gsm-newlines", "\n" * 160, 1, "GSM-7"),
    ("ext-80-euro-is-160-septets", "€" * 80, 1, "GSM-7"),
    ("ext-81-euro-is-162-septets", "€" * 81, 2, "GSM-7"),
    ("ext-158+euro", "a" * 158 + "€", 1, "GSM-7"),
    ("ext-159+euro", "a" * 159 + "€", 2, "GSM-7"),
    ("ext-form-feed-80", "\f" * 80, 1, "GSM-7"),
    ("ext-form-feed-81", "\f" * 81, 2, "GSM-7"),
    # 612 septets would need 4 segments, but only 76 two-septet chars fit in 153 septets.
    ("ext-only-wastes-a-septet-per-segment", "{}" * 153, 5, "GSM-7"),
    ("ext-pair-fills-segment-exactly", "a" * 151 + "€" + "a" * 153, 2, "GSM-7"),
    # 306 septets would fit in 2 segments, but the escape pair cannot straddle the edge.
    ("ext-pair-not-split-at-edge", "a" * 152 + "€" + "a" * 152, 3, "GSM-7"),
    ("ucs2-70", "á" * 70, 1, "UCS-2"),
    ("ucs2-71", "á" * 71, 2, "UCS-2"),
    ("ucs2-134", "á" * 134, 2, "UCS-2"),
    ("ucs2-135", "á" * 135, 3, "UCS-2"),
    ("ucs2-201", "á" * 201, 3, "UCS-2"),
    ("ucs2-202", "á" * 202, 4, "UCS-2"),
    ("ucs2-one-char-forces-all", "a" * 69 + "á", 1, "UCS-2"),
    ("ucs2-one-char-forces-all-71", "a" * 70 + "á", 2, "UCS-2"),
    ("ucs2-euro-is-one-unit", "€" * 69 + "á", 1, "UCS-2"),
    ("emoji-35-is-70-units", "\U0001F600" * 35, 1, "UCS-2"),
    ("emoji-35+1-is-71-units", "\U0001F600" * 35 + "a", 2, "UCS-2"),
    ("emoji-at-end-70-units", "a" * 68 + "\U0001F600", 1, "UCS-2"),
    ("emoji-at-end-71-units", "a" * 69 + "\U0001F600", 2, "UCS-2"),
    ("surrogate-pair-fills-segment-exactly", "a" * 65 + "\U0001F600" + "a" * 67, 2, "UCS-2"),
    # 134 units would fit in 2 segments, but the surrogate pair cannot straddle the edge.
    ("surrogate-pair-not-split-at-edge", "a" * 66 + "\U0001F600" + "a" * 66, 3, "UCS-2"),
]


@pytest.mark.parametrize(
    "text,segments,enc", [c[1:] for c in SEGMENT_CASES], ids=[c[0] for c in SEGMENT_CASES]
)
def test_count_segments_and_encoding(text, segments, enc):
    assert encoding(text) == enc
    assert count_segments(text) == segments
    parts = split_segments(text)
    assert len(parts) == segments
    assert "".join(parts) == text


def test_split_segments_moves_escape_pair_to_next_segment():
    text = "a" * 152 + "€" + "a" * 152
    parts = split_segments(text)
    assert [ref_length(p, "GSM-7") for p in parts] == [152, 153, 1]
    assert parts[1].startswith("€")


def test_split_segments_moves_surrogate_pair_to_next_segment():
    text = "a" * 66 + "\U0001F600" + "a" * 66
    parts = split_segments(text)
    assert [ref_length(p, "UCS-2") for p in parts] == [66, 67, 1]
    assert parts[1].startswith("\U0001F600")


def test_message_length_counts_septets_and_code_units():
    assert message_length("ab€") == 4
    assert message_length("æøå") == 3
    assert message_length("á€") == 2
    assert message_length("á\U0001F600") == 3


# --------------------------------------------------------------------------
# sanitize
# --------------------------------------------------------------------------

SANITIZE_CASES = [
    ("curly-single", "\u2018hei\u2019 og don\u2019t", "'hei' og don't"),
    ("curly-double", "\u201chei\u201d", '"hei"'),
    ("low-double", "\u201ehei\u201c", '"hei"'),
    ("guillemets", "\u00abhei\u00bb", '"hei"'),
    ("en-dash", "kl. 10\u201312", "kl. 10-12"),
    ("em-dash", "a \u2014 b", "a - b"),
    ("minus-sign", "\u22125 grader", "-5 grader"),
    ("ellipsis", "Vent\u2026", "Vent..."),
    ("nbsp", "100\u00a0kr", "100 kr"),
    ("narrow-nbsp", "1\u202f000", "1 000"),
    ("thin-space", "a\u2009b", "a b"),
    ("tab", "a\tb", "a b"),
    ("bullet", "\u2022 punkt", "- punkt"),
    ("emoji-between-words", "Hei \U0001F44B der", "Hei der"),
    ("emoji-at-end", "Takk! \U0001F64F", "Takk!"),
    ("emoji-at-start", "\U0001F44D Ok", "Ok"),
    ("emoji-before-newline", "Linje \U0001F642\nNeste", "Linje\nNeste"),
    ("emoji-after-newline", "Linje\n\U0001F642 Neste", "Linje\nNeste"),
    ("emoji-run", "Hei \U0001F600\U0001F600 \U0001F600 der", "Hei der"),
    ("emoji-glued", "Hei\U0001F600der", "Heider"),
    ("zwj-family", "Familie \U0001F468\u200d\U0001F469\u200d\U0001F467 her", "Familie her"),
    ("flag", "\U0001F1F3\U0001F1F4 Norge", "Norge"),
    ("variation-selector", "Sol \u2600\ufe0f i dag", "Sol i dag"),
    ("zero-width-space", "Hei\u200bder", "Heider"),
    ("soft-hyphen", "barne\u00adhage", "barnehage"),
    ("norwegian-kept", "Blåbærsyltetøy ÆØÅ", "Blåbærsyltetøy ÆØÅ"),
    ("e-acute-kept", "Kafé É", "Kafé É"),
    ("a-acute", "á", "a"),
    ("acutes-and-circumflex", "á í ó ú ê Á", "a i o u e A"),
    ("mixed-french", "crème brûlée", "crème brulée"),
    ("c-cedilla", "ç Ç", "c Ç"),
    ("tilde", "São Paulo", "Sao Paulo"),
    ("sami", "Čáhcesuolu Guovdageaidnu đ ŋ ŧ Š", "Cahcesuolu Guovdageaidnu d n t S"),
    ("decomposed-e-acute", "Kafe\u0301", "Kafé"),
    ("decomposed-a-acute", "a\u0301", "a"),
    ("ligature", "\ufb01ne", "fine"),
    ("fullwidth", "\uff21\uff22", "AB"),
    ("newlines-kept", "a\nb\r\nc", "a\nb\r\nc"),
    ("extension-kept", "{[€]}|^~\\", "{[€]}|^~\\"),
    ("cyrillic-removed", "Привет test", "test"),
    ("cjk-removed", "你好 test", "test"),
    ("greek-lowercase-removed", "\u03b1\u03b2 test", "test"),
    ("empty", "", ""),
    ("plain-unchanged", "Hei! Hvordan går det? 100% sikkert.", "Hei! Hvordan går det? 100% sikkert."),
]


@pytest.mark.parametrize(
    "raw,expected", [c[1:] for c in SANITIZE_CASES], ids=[c[0] for c in SANITIZE_CASES]
)
def test_sanitize(raw, expected):
    result = sanitize(raw)
    assert result == expected
    assert is_gsm7(result)


def test_sanitize_keeps_original_double_spaces_not_caused_by_removal():
    assert sanitize("a  b") == "a  b"


def test_sanitize_turns_ucs2_message_into_cheaper_gsm7():
    raw = "\u201cDin s\u00f8knad er mottatt\u201d \u2013 vi svarer innen 3\u00a0dager \U0001F60A"
    assert encoding(raw) == "UCS-2"
    clean = sanitize(raw)
    assert clean == '"Din søknad er mottatt" - vi svarer innen 3 dager'
    assert encoding(clean) == "GSM-7"
    assert count_segments(clean) == 1


# --------------------------------------------------------------------------
# Property-style checks: sanitize output is GSM-7, segment counting consistent
# --------------------------------------------------------------------------

MIXED_ALPHABET = (
    "abcdefghijklmnopqrstuvwxyz ABCXYZ 0123456789 .,!?:;-'\"()"
    "æøåÆØÅäöüÄÖÜéÉèàçÇßñÑ§¿¡@£$¥¤_"
    "\n\r\t\f^{}\\[~]|€"
    "\u0394\u03a9\u03a3\u03b1\u03b2"  # Greek capitals (GSM) and lowercase (not GSM)
    "áíóúêôâãõčšžđŋŧłœþ"  # accented / special Latin not in GSM-7
    "\u2018\u2019\u201c\u201d\u201e\u00ab\u00bb\u2013\u2014\u2212\u2026\u2022"
    "\u00a0\u202f\u2009\u200b\u200d\u00ad\ufe0f\u0301\u0308\x00\x07`\u00b4\u00a8"
    "ЖЯ中文\u0627\u05d0"
) + "".join(
    ["\U0001F600", "\U0001F44B", "\U0001F1F3", "\U0001F468", "\U0001F9D1", "\U00020000"]
)


def random_text(rng: random.Random, max_len: int = 400) -> str:
    """A random string drawn from MIXED_ALPHABET, sometimes long enough for multipart."""
    length = rng.choice([0, 1, rng.randint(0, 80), rng.randint(60, 200), rng.randint(150, max_len)])
    return "".join(rng.choice(MIXED_ALPHABET) for _ in range(length))


def check_segment_consistency(text: str) -> None:
    """Assert count_segments/split_segments agree with encoding and Twilio's rules."""
    enc = encoding(text)
    assert enc == ("GSM-7" if is_gsm7(text) else "UCS-2")
    single, multi = (160, 153) if enc == "GSM-7" else (70, 67)
    total = ref_length(text, enc)
    assert message_length(text) == total
    n = count_segments(text)
    parts = split_segments(text)
    assert len(parts) == n
    assert "".join(parts) == text
    assert (n == 1) == (total <= single)
    if n > 1:
        # At most one unit is wasted per segment (an escape or surrogate pair pushed on).
        assert math.ceil(total / multi) <= n <= math.ceil(total / (multi - 1))
        costs = [ref_length(p, enc) for p in parts]
        assert all(0 < c <= multi for c in costs)
        # Greedy: a segment is only closed when the next character would not fit.
        for part, nxt in zip(parts, parts[1:]):
            assert ref_length(part, enc) + ref_cost(nxt[0], enc) > multi


def check_sanitize_properties(text: str) -> None:
    """Assert sanitize output is GSM-7, idempotent and segment-consistent."""
    clean = sanitize(text)
    assert is_gsm7(clean), repr(clean)
    assert encoding(clean) == "GSM-7"
    assert "\x00" not in clean
    assert sanitize(clean) == clean
    # Newlines are kept, and only produced from other line separators.
    line_breaks = sum(text.count(c) for c in "\n\u2028\u2029\x85\x0b")
    assert clean.count("\n") == line_breaks
    check_segment_consistency(text)
    check_segment_consistency(clean)


def test_random_strings_sanitize_and_segments_are_consistent():
    rng = random.Random(20240601)
    seen_ucs2 = seen_multipart = 0
    for _ in range(2000):
        text = random_text(rng)
        check_sanitize_properties(text)
        seen_ucs2 += encoding(text) == "UCS-2"
        seen_multipart += count_segments(text) > 1
    # Make sure the generator actually exercised both encodings and multipart messages.
    assert seen_ucs2 > 500
    assert seen_multipart > 500


def test_random_gsm_only_strings_are_left_untouched():
    rng = random.Random(7)
    gsm_alphabet = GSM7_BASIC + GSM7_EXTENSION
    for _ in range(500):
        text = "".join(rng.choice(gsm_alphabet) for _ in range(rng.randint(0, 500)))
        # Only the removal-collapsing step could touch GSM text, and it never triggers.
        assert sanitize(text) == text
        check_segment_consistency(text)


if HAVE_HYPOTHESIS:  # pragma: no cover - depends on the environment

    @settings(max_examples=300, deadline=None)
    # No lone surrogates: SMS text arrives as UTF-8 (webhooks) or comes from the domain, so
    # it cannot hold one, and the UTF-16 reference count above has no answer for it.
    @given(st.text(alphabet=st.sampled_from(list(MIXED_ALPHABET))
                   | st.characters(blacklist_categories=("Cs",)), max_size=500))
    def test_hypothesis_sanitize_and_segments(text):
        check_sanitize_properties(text)


# --------------------------------------------------------------------------
# Buttons
# --------------------------------------------------------------------------

YES_NO_NB = [{"title": "Ja", "payload": "/affirm"}, {"title": "Nei", "payload": "/deny"}]
YES_NO_EN = [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]
KINDERGARTENS = [
    {"title": "Solstrålen barnehage", "payload": '/choose{"kg": "solstralen"}'},
    {"title": "Tusenfryd barnehage", "payload": '/choose{"kg": "tusenfryd"}'},
    {"title": "Bakkebo barnehage", "payload": '/choose{"kg": "bakkebo"}'},
    {"title": "Eventyrskogen barnehage", "payload": '/choose{"kg": "eventyrskogen"}'},
]


def test_render_buttons_nb_inline():
    assert render_buttons("Vil du søke?", YES_NO_NB) == "Vil du søke?\nSvar 1 for Ja, 2 for Nei."


def test_render_buttons_nn_inline():
    assert (
        render_buttons("Vil du søkje?", YES_NO_NB, language="nn")
        == "Vil du søkje?\nSvar 1 for Ja, 2 for Nei."
    )


def test_render_buttons_en_inline():
    assert (
        render_buttons("Do you want to apply?", YES_NO_EN, language="en")
        == "Do you want to apply?\nReply 1 for Yes, 2 for No."
    )


def test_render_buttons_three_is_still_inline():
    buttons = YES_NO_NB + [{"title": "Vet ikke", "payload": "/unsure"}]
    assert render_buttons("Ok?", buttons) == "Ok?\nSvar 1 for Ja, 2 for Nei, 3 for Vet ikke."


def test_render_buttons_single_button():
    assert render_buttons("Klar?", [{"title": "Start", "payload": "/start"}]) == "Klar?\nSvar 1 for Start."


def test_render_buttons_no_double_punctuation():
    buttons = [{"title": "Ja", "payload": "/affirm"}, {"title": "Hva betyr det?", "payload": "/explain"}]
    assert render_buttons("Ok?", buttons) == "Ok?\nSvar 1 for Ja, 2 for Hva betyr det?"


@pytest.mark.parametrize(
    "language,intro",
    [
        ("nb", "Svar med tallet for valget ditt:"),
        ("nn", "Svar med talet for valet ditt:"),
        ("en", "Reply with the number of your choice:"),
    ],
)
def test_render_buttons_more_than_three_one_line_each(language, intro):
    result = render_buttons("Velg barnehage:", KINDERGARTENS, language=language)
    assert result.split("\n") == [
        "Velg barnehage:",
        intro,
        "1: Solstrålen barnehage",
        "2: Tusenfryd barnehage",
        "3: Bakkebo barnehage",
        "4: Eventyrskogen barnehage",
    ]
    assert is_gsm7(result)


def test_render_buttons_without_buttons_returns_text():
    assert render_buttons("  Hei!  ", []) == "Hei!"
    assert render_buttons("Hei!", None) == "Hei!"


def test_render_buttons_without_text():
    assert render_buttons("", YES_NO_NB) == "Svar 1 for Ja, 2 for Nei."


def test_render_buttons_cleans_titles_and_falls_back_to_payload():
    buttons = [{"title": "  Ja,\n gjerne ", "payload": "/affirm"}, {"payload": "/deny"}]
    assert render_buttons("Ok?", buttons) == "Ok?\nSvar 1 for Ja, gjerne, 2 for /deny."


@pytest.mark.parametrize(
    "language,expected",
    [
        ("nb", "nb"), ("nn", "nn"), ("en", "en"), ("no", "nb"), ("nb-NO", "nb"),
        ("nn_NO", "nn"), ("en-GB", "en"), ("EN", "en"), ("de", "nb"), ("", "nb"), (None, "nb"),
    ],
)
def test_normalize_language(language, expected):
    assert normalize_language(language) == expected


def test_render_buttons_unknown_language_defaults_to_bokmal():
    assert render_buttons("Ok?", YES_NO_NB, language="de") == "Ok?\nSvar 1 for Ja, 2 for Nei."
    assert render_buttons("Ok?", YES_NO_EN, language="en-US") == "Ok?\nReply 1 for Yes, 2 for No."


@pytest.mark.parametrize(
    "reply,expected",
    [
        ("1", "/affirm"),
        ("2", "/deny"),
        (" 2 ", "/deny"),
        ("2.", "/deny"),
        ("2)", "/deny"),
        ("\n1\n", "/affirm"),
        ("0", None),
        ("3", None),
        ("-1", None),
        ("+1", None),
        ("1 2", None),
        ("12", None),
        ("2..", None),
        ("ja", None),
        ("1 ja", None),
        ("", None),
        ("   ", None),
        (None, None),
        ("\uff11", None),  # fullwidth digit one
        ("\u0661", None),  # Arabic-Indic digit one
    ],
)
def test_choice_payload(reply, expected):
    assert choice_payload(reply, YES_NO_NB) == expected


def test_choice_payload_many_buttons_and_multi_digit():
    buttons = [{"title": f"Valg {i}", "payload": f"/pick_{i}"} for i in range(1, 13)]
    assert choice_payload("12", buttons) == "/pick_12"
    assert choice_payload("4.", KINDERGARTENS) == '/choose{"kg": "eventyrskogen"}'
    assert choice_payload("13", buttons) is None


def test_choice_payload_without_buttons():
    assert choice_payload("1", []) is None
    assert choice_payload("1", None) is None


def test_choice_payload_roundtrip_with_render_buttons():
    rendered = render_buttons("Velg:", KINDERGARTENS)
    for line in rendered.split("\n")[2:]:
        number, title = line.split(": ", 1)
        payload = choice_payload(number, KINDERGARTENS)
        assert payload == next(b["payload"] for b in KINDERGARTENS if b["title"] == title)


# --------------------------------------------------------------------------
# MORE keywords
# --------------------------------------------------------------------------


def test_more_keywords_constant():
    assert MORE_WORDS == {"MER", "MORE"}


@pytest.mark.parametrize(
    "reply,expected",
    [("MER", True), ("mer", True), (" Mer ", True), ("more", True), ("MORE.", True), ("mer!", True),
     ("mer info", False), ("merr", False), ("", False), (None, False), ("1", False)],
)
def test_is_more_request(reply, expected):
    assert is_more_request(reply) is expected


# --------------------------------------------------------------------------
# fit
# --------------------------------------------------------------------------


def sentences(count: int, template: str = "Setning nummer {i} handler om barnehageplass.") -> str:
    """A text made of count numbered sentences separated by spaces."""
    return " ".join(template.format(i=i) for i in range(1, count + 1))


def test_suffix_strings():
    assert MORE_SUFFIX == {"nb": NB_SUFFIX, "nn": NN_SUFFIX, "en": EN_SUFFIX}
    assert all(is_gsm7(s) for s in MORE_SUFFIX.values())


def test_fit_short_text_is_returned_unchanged():
    assert fit("Hei! Søknaden er mottatt.") == ("Hei! Søknaden er mottatt.", None)


def test_fit_returns_sanitized_text():
    assert fit("\u201cHei\u201d \U0001F44B") == ('"Hei"', None)


def test_fit_sanitizing_can_make_text_fit():
    # 400 chars with curly apostrophes is UCS-2 (6 segments); sanitized it is GSM-7 (3 segments).
    raw = "\u2019a" * 200
    assert count_segments(raw) == 6
    sms, rest = fit(raw, max_segments=3)
    assert rest is None
    assert sms == "'a" * 200


def test_fit_exactly_at_limit_is_not_cut():
    text = "a" * 459
    assert fit(text) == (text, None)
    assert fit("a" * 160, max_segments=1) == ("a" * 160, None)


def test_fit_one_over_limit_is_cut():
    text = ("ord " * 115)[:459] + "x"
    assert len(text) == 460
    sms, rest = fit(text)
    assert rest is not None
    assert count_segments(sms) <= 3


def test_fit_cuts_at_last_sentence_boundary():
    text = sentences(20)
    sms, rest = fit(text)
    body = body_of(sms)
    assert count_segments(sms) <= 3
    assert body.endswith("barnehageplass.")
    assert body + " " + rest == text
    # It is the *last* boundary: adding the next sentence would not fit.
    next_sentence = rest.split(". ")[0] + "."
    assert count_segments(body + " " + next_sentence + NB_SUFFIX) > 3


def test_fit_prefers_sentence_boundary_over_later_word_boundary():
    tail = " ".join(["Ord"] * 200)
    text = "Kort innledning. " + tail
    sms, rest = fit(text)
    assert body_of(sms) == "Kort innledning."
    assert rest == tail


@pytest.mark.parametrize("mark", ["!", "?"])
def test_fit_cuts_at_exclamation_and_question_marks(mark):
    text = sentences(20, "Er dette setning nummer {i} om barnehageplass" + mark)
    sms, rest = fit(text)
    body = body_of(sms)
    assert body.endswith(mark)
    assert body + " " + rest == text


def test_fit_cuts_at_newline():
    text = "\n".join(f"Linje {i} uten punktum om barnehageplass" for i in range(1, 20))
    sms, rest = fit(text)
    body = body_of(sms)
    assert body.endswith("barnehageplass")
    assert body + "\n" + rest == text
    assert count_segments(sms) <= 3


def test_fit_sentence_end_followed_by_closing_quote():
    first = "Hun sa: \u00abDette er en lang innledning om søknaden din som vi har mottatt.\u00bb"
    text = first + " " + " ".join(["Mer tekst uten punktum"] * 30)
    sms, rest = fit(text)
    assert body_of(sms) == sanitize(first)
    assert rest.startswith("Mer tekst")


def test_fit_does_not_treat_abbreviations_as_sentence_ends():
    intro = "Barnehagen har plass til deg fra august. "
    filler = "Vi gir beskjed " + " ".join(["snart"] * 35) + ". "
    tail = (
        "Oppmøte kl. 10 ved port nr. 5, ring tlf. 12 34 56 78 og ta med f.eks. Regntøy "
        "og bl.a. Matpakke og ca. 2 liter vann "
    )
    text = intro + filler + tail + " ".join(["Mer info"] * 40)
    # Every abbreviation dot lies inside the 3-segment budget, after the real sentence end.
    assert len(intro + filler + tail) < 459 - len(NB_SUFFIX)
    sms, rest = fit(text)
    body = body_of(sms)
    assert body == (intro + filler).strip()
    assert rest.startswith("Oppmøte kl. 10")


def test_fit_dot_followed_by_lowercase_is_not_a_sentence_end():
    text = "Søknadsfristen er 1. mars " + " ".join(["og"] * 200)
    sms, rest = fit(text)
    body = body_of(sms)
    # No real sentence boundary: falls back to a word boundary, well past "1."
    assert len(body) > 400
    assert body.startswith("Søknadsfristen er 1. mars og")


def test_fit_falls_back_to_word_boundary():
    words = [f"ord{i}" for i in range(200)]
    text = " ".join(words)
    sms, rest = fit(text)
    body = body_of(sms)
    assert count_segments(sms) <= 3
    n = len(body.split())
    assert body.split() == words[:n]
    assert rest.split() == words[n:]
    # Greedy: the next word would not have fitted.
    assert count_segments(body + " " + words[n] + NB_SUFFIX) > 3


def test_fit_never_cuts_inside_a_word_when_a_space_exists():
    text = "a" * 300 + " " + "b" * 300
    sms, rest = fit(text)
    assert body_of(sms) == "a" * 300
    assert rest == "b" * 300


def test_fit_hard_cut_only_without_spaces():
    text = "x" * 1000
    sms, rest = fit(text)
    body = body_of(sms)
    assert len(body) == 459 - len(NB_SUFFIX)
    assert count_segments(sms) == 3
    assert body + rest == text


def test_fit_hard_cut_when_space_is_out_of_range():
    text = "x" * 600 + " halen"
    sms, rest = fit(text)
    body = body_of(sms)
    assert body + rest == text
    assert count_segments(sms) <= 3


def test_fit_counts_extension_characters_double():
    text = " ".join(["20€"] * 200)
    sms, rest = fit(text)
    assert count_segments(sms) <= 3
    body = body_of(sms)
    assert message_length(sms) > len(sms)  # euro signs cost two septets
    assert (body + " " + rest) == text


@pytest.mark.parametrize("language,suffix", [("nb", NB_SUFFIX), ("nn", NN_SUFFIX), ("en", EN_SUFFIX),
                                             ("en-GB", EN_SUFFIX), ("de", NB_SUFFIX)])
def test_fit_language_suffix(language, suffix):
    sms, rest = fit(sentences(30), language=language)
    assert sms.endswith(suffix)
    assert rest


def test_fit_english_suffix_cannot_overflow():
    sms, _ = fit("x" * 1000, language="en")
    assert len(sms) == 459
    assert sms.endswith(EN_SUFFIX)


def test_fit_single_segment():
    text = sentences(10)
    sms, rest = fit(text, max_segments=1)
    assert count_segments(sms) == 1
    assert len(sms) <= 160
    assert body_of(sms) + " " + rest == text


def test_fit_rejects_non_positive_budget():
    with pytest.raises(ValueError):
        fit("hei", max_segments=0)


def test_fit_output_is_gsm7_even_for_ucs2_input():
    text = ("\u201cS\u00f8knaden\u201d er mottatt \u2013 takk \U0001F64F. " * 30).strip()
    sms, rest = fit(text)
    assert is_gsm7(sms) and is_gsm7(rest)
    assert encoding(sms) == "GSM-7"
    assert count_segments(sms) <= 3


def test_fit_empty_text():
    assert fit("") == ("", None)
    assert fit("   \n ") == ("", None)


LONG_TEXT = "\n".join(
    [
        "Velkommen til kommunens SMS-tjeneste! Her får du svar på spørsmål om barnehage, skole, "
        "renovasjon og byggesak.",
        "Søknadsfristen for hovedopptaket i barnehage er 1. mars. Du søker på kommunens nettsider "
        "med BankID. Har du spørsmål, ring servicetorget på tlf. 12 34 56 78 mellom kl. 08.00 og "
        "kl. 15.30.",
        "\u201cTilbudet sendes ut i april\u201d \u2013 svarfristen er to uker. Husk å svare, ellers "
        "mister du plassen! Vil du bytte barnehage? Da må du søke på nytt.",
        "Renovasjon: Restavfall hentes annenhver uke, papir hver fjerde uke. Glass og metall leveres "
        "på returpunkt, f.eks. ved butikken. Farlig avfall (maling, batterier o.l.) leveres "
        "gjenvinningsstasjonen \U0001F44D",
        " ".join(f"Utfyllende informasjon del {i} med mange ord uten punktum" for i in range(25)),
        "Takk for at du bruker tjenesten. Ha en fin dag!",
    ]
)


@pytest.mark.parametrize("max_segments", [1, 2, 3, 4])
@pytest.mark.parametrize("language", ["nb", "nn", "en"])
def test_fit_loop_consumes_all_text_in_order(max_segments, language):
    pieces = drain(LONG_TEXT, max_segments, language)
    assert len(pieces) > 1
    assert " ".join(pieces).split() == sanitize(LONG_TEXT).split()


def test_fit_loop_random_texts_preserve_every_word():
    rng = random.Random(1234)
    vocabulary = ["barnehage", "søknad", "kl.", "f.eks.", "Ja", "nei", "æøå", "20€", "{x}",
                  "\u201csitat\u201d", "\u2013", "\U0001F600", "Hvorfor?", "Flott!", "1.", "ÆØÅ"]
    for _ in range(150):
        words = []
        for _ in range(rng.randint(0, 400)):
            if rng.random() < 0.5:
                word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzæøå") for _ in range(rng.randint(1, 15)))
            else:
                word = rng.choice(vocabulary)
            if rng.random() < 0.1:
                word += rng.choice([".", "!", "?", "\n", ".\n"])
            words.append(word)
        text = " ".join(words)
        pieces = drain(text, rng.randint(1, 4), rng.choice(["nb", "nn", "en"]))
        assert " ".join(pieces).split() == sanitize(text).split()


def test_fit_loop_hard_cuts_reassemble_exactly():
    text = "y" * 2000
    pieces = drain(text, 2)
    assert "".join(pieces) == text
    assert [len(p) for p in pieces[:-1]] == [306 - len(NB_SUFFIX)] * 6
    assert len(pieces[-1]) == 2000 - 6 * (306 - len(NB_SUFFIX))


def test_module_has_no_third_party_imports():
    import ast
    import sys

    tree = ast.parse(open(sms_format.__file__, encoding="utf-8").read())
    modules = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert modules <= set(sys.stdlib_module_names) | {"__future__"}
