"""The import path frozen migrations use (app/migrations/0001–0003); code lives in gatehouse.store.database."""

from gatehouse.store.database import database, is_mysql  # noqa: F401
