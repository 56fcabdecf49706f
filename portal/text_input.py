"""Citizen text as it may be stored and handed on: without NUL characters, which phones and
forged chat clients can send and no PostgreSQL text column can hold."""


def storable(text: str) -> str:
    return text.replace("\x00", "")
