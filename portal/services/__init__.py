"""The portal's service layer: plain functions over a SQLAlchemy session, no HTTP."""
