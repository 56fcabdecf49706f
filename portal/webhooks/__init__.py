"""Webhooks of outside services, answered by the portal (no bot turns run here)."""
