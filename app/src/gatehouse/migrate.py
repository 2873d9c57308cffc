"""The import path frozen migrations use (app/migrations/0002–0003); code lives in gatehouse.store.migrate."""

from gatehouse.errors import MigrationError  # noqa: F401
