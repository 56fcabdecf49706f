"""The portal's JSON API: one blueprint per area."""
