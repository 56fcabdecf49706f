"""Citizen-facing texts that are not the bot's own (those live in bot/domain)."""
