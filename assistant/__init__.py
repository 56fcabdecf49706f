"""The `assistant` command: the project's front door."""
