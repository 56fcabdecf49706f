"""Sending one outbox row through Twilio's official client."""
from __future__ import annotations

from datetime import timedelta
from typing import List, Tuple

from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from portal.config import Settings
from portal.models import OutboundSms
from portal.sms.outbox import open_body

# Where Twilio posts delivery receipts: the portal's Twilio webhook (portal/webhooks/twilio.py).
STATUS_CALLBACK_PATH = "/webhooks/twilio/status"
DEFAULT_TIMEOUT = 15.0
# Clocks differ a little between us and Twilio: look this far before the row was written.
CLOCK_SKEW = timedelta(minutes=5)


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
            to=row.to_number, body=open_body(self.settings.outbox_key, row.body),
            status_callback=status_callback_url(self.settings), **sender)
        return message.sid, str(message.status)

    def find(self, row: OutboundSms) -> List[Tuple[str, str]]:
        """Messages Twilio already holds for this row: same recipient and text, created since
        the row was written (sid, status), newest first.

        Listed by recipient, not by DateSent: a message still queued has no date_sent yet, and
        DateSent filters by whole days anyway; the creation time is checked here instead.
        """
        body = open_body(self.settings.outbox_key, row.body)
        since = row.created_at - CLOCK_SKEW
        return [(message.sid, str(message.status))
                for message in self.client.messages.list(to=row.to_number, limit=50)
                if message.body == body and message.date_created is not None
                and message.date_created >= since]
