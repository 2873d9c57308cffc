"""The import path frozen migrations use (app/migrations/0001); code lives in gatehouse.store.models."""

from gatehouse.store.models import ALL_MODELS, Client, Consent, Session, User  # noqa: F401
