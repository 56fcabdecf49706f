"""Staff accounts, login with TOTP, roles, and the workspace pages."""
