"""Conversations as a record of the portal: who owns them, what was said, who runs turns."""
