"""Outbound SMS: a durable outbox in the portal database."""
