"""The import path a frozen migration uses (app/migrations/0003); code lives in gatehouse.accounts.username_policy."""

from gatehouse.accounts.username_policy import username_skeleton  # noqa: F401
