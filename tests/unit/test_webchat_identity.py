"""The web chat issues conversation ids itself and only resumes ones it signed."""
import pytest

from channels.webchat import WebChatInput


def channel(secret="s" * 32):
    return WebChatInput.from_credentials({"secret": secret})


def test_a_signed_ticket_resumes_its_conversation():
    chat = channel()
    ticket = chat.ticket("web-abc")
    assert chat.conversation_of_ticket(ticket) == "web-abc"


@pytest.mark.parametrize("ticket", [
    None, "", "web-abc", "web-abc.deadbeef", "web-abc.9999999999.deadbeef", 42,
    {"id": "web-abc"}, "rest-kari.9999999999." + "0" * 64, "web-a.b.c.d", "x" * 300,
])
def test_forged_or_malformed_tickets_resume_nothing(ticket):
    assert channel().conversation_of_ticket(ticket) is None


def test_a_ticket_from_another_secret_is_refused():
    assert channel("a" * 32).conversation_of_ticket(channel("b" * 32).ticket("web-x")) is None


def test_a_short_secret_is_refused():
    with pytest.raises(ValueError):
        channel("short")


def test_a_ticket_expires():
    from portal import webchat_tickets

    secret = b"s" * 32
    ticket = webchat_tickets.ticket(secret, "web-abc", now=1_000_000, seconds=60)
    assert webchat_tickets.conversation_of_ticket(secret, ticket, now=1_000_059) == "web-abc"
    assert webchat_tickets.conversation_of_ticket(secret, ticket, now=1_000_060) is None


def test_a_ticket_with_a_changed_expiry_is_refused():
    from portal import webchat_tickets

    secret = b"s" * 32
    conversation, expires, signature = webchat_tickets.ticket(secret, "web-abc").split(".")
    longer = f"{conversation}.{int(expires) + 10 ** 6}.{signature}"
    assert webchat_tickets.conversation_of_ticket(secret, longer) is None
