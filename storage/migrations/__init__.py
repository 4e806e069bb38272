"""Alembic migrations; run them with `storage.db.upgrade(url)` or `onboard-bot db upgrade`."""
