"""The admin product: NLU inbox and model bank pages (views.py) and JSON API (api.py)."""
