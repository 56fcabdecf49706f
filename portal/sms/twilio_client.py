"""Sending one outbox row through Twilio's official client."""
from __future__ import annotations

from typing import Tuple

from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from portal.config import Settings
from portal.models import OutboundSms

# Where Twilio posts delivery receipts: the portal's Twilio webhook (portal/webhooks/twilio.py).
STATUS_CALLBACK_PATH = "/webhooks/twilio/status"
DEFAULT_TIMEOUT = 15.0


def make_client(settings: Settings, *, timeout: float = DEFAULT_TIMEOUT) -> Client:
    """A Twilio REST client from the settings, aimed at `twilio_api_base_url` when set."""
    client = Client(settings.twilio_account_sid, settings.twilio_auth_token,
                    http_client=TwilioHttpClient(timeout=timeout))
    if settings.twilio_api_base_url:
        # The Messages API lives on the `api` domain (https://api.twilio.com); a stand-in
        # takes its place, and edge/region host rewriting must not touch its address.
        client.api.base_url = settings.twilio_api_base_url.rstrip("/")
        client.edge = client.region = None
    return client


def status_callback_url(settings: Settings) -> str:
    return settings.public_base_url.rstrip("/") + STATUS_CALLBACK_PATH


class TwilioSender:
    """Sends outbox rows with one pooled Twilio client; raises what the client raises."""

    def __init__(self, settings: Settings, *, timeout: float = DEFAULT_TIMEOUT):
        if not settings.twilio_configured:
            raise ValueError("Twilio is not configured")
        self.settings = settings
        self.client = make_client(settings, timeout=timeout)

    def __call__(self, row: OutboundSms) -> Tuple[str, str]:
        return self.send(row)

    def send(self, row: OutboundSms) -> Tuple[str, str]:
        """Hands one SMS to Twilio; returns Twilio's message sid and status."""
        sender = ({"from_": self.settings.twilio_from_number}
                  if self.settings.twilio_from_number
                  else {"messaging_service_sid": self.settings.twilio_messaging_service_sid})
        message = self.client.messages.create(
            to=row.to_number, body=row.body,
            status_callback=status_callback_url(self.settings), **sender)
        return message.sid, str(message.status)
