"""Deleting what has expired, in small batches so no lock is held for long."""

from __future__ import annotations

import time

import peewee

from gatehouse.store.database import database
from gatehouse.store.models import AuditLog, AuthorizationCode, Grant, RefreshToken, Revocation, Session

AUDIT_RETENTION_DAYS = 365


def _batched_delete(model, condition, batch_size: int) -> int:
    total = 0
    while True:
        ids = [row.get_id() for row in model.select(model._meta.primary_key).where(condition).limit(batch_size)]
        if not ids:
            return total
        with database.atomic():
            total += model.delete().where(model._meta.primary_key.in_(ids)).execute()
        if len(ids) < batch_size:
            return total


def cleanup(
    batch_size: int = 1000,
    now: int | None = None,
    audit_retention_days: int = AUDIT_RETENTION_DAYS,
    session_idle_timeout: int = 0,
) -> dict:
    """session_idle_timeout: sessions unused that long are over too (SESSION_IDLE_TIMEOUT; 0: only expired ones)."""
    now = int(time.time()) if now is None else now
    sessions_over = Session.expires_at < now
    if session_idle_timeout:
        last_use = peewee.fn.COALESCE(Session.last_seen_at, Session.created_at)
        sessions_over = sessions_over | (last_use < now - session_idle_timeout)
    return {
        "authorization_codes": _batched_delete(AuthorizationCode, AuthorizationCode.expires_at < now, batch_size),
        "refresh_tokens": _batched_delete(RefreshToken, RefreshToken.expires_at < now, batch_size),
        "grants": _batched_delete(Grant, Grant.expires_at < now, batch_size),
        "revocations": _batched_delete(Revocation, Revocation.expires_at < now, batch_size),
        "sessions": _batched_delete(Session, sessions_over, batch_size),
        "audit_logs": _batched_delete(AuditLog, AuditLog.created_at < now - audit_retention_days * 86400, batch_size),
    }
