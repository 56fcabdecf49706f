"""Which web chat payloads are worth a turn (channels/webchat.py readable)."""
import pytest

from channels.webchat import readable


@pytest.mark.parametrize("text", ["hei", " logg inn ", "😀", "\u202ebrev", "a" * 10_000])
def test_text_with_content_is_taken(text):
    assert readable(text)


@pytest.mark.parametrize("text", [None, 42, ["hei"], {"text": "hei"}, "", " \t\n\u3000",
                                  "hei \ud800", "\udfff"])
def test_no_text_blank_text_or_a_lone_surrogate_is_refused(text):
    assert not readable(text)
