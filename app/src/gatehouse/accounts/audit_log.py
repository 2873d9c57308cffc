"""Reading the audit log, and the counts the portal's dashboard shows. runtime.audit writes the log."""

from __future__ import annotations

import json
import time

from gatehouse.accounts.paging import Page, page
from gatehouse.store.models import AuditLog, Client, Permission, Role, User


def audit_dict(row: AuditLog) -> dict:
    try:
        details = json.loads(row.details or "{}")
    except ValueError:
        details = {}
    return {
        "id": row.id,
        "created_at": row.created_at,
        "event": row.event,
        "actor": row.actor,
        "subject": row.subject,
        "ip": row.ip,
        "request_id": row.request_id,
        "details": details,
    }


def list_audit(
    limit: int = 50, offset: int = 0, event: str | None = None, actor: str | None = None, since: int | None = None
) -> Page:
    """Newest first; filters combine."""
    query = AuditLog.select()
    if event:
        query = query.where(AuditLog.event == event)
    if actor:
        query = query.where(AuditLog.actor == actor)
    if since is not None:
        query = query.where(AuditLog.created_at >= since)
    return page(query.order_by(AuditLog.created_at.desc(), AuditLog.id.desc()), limit, offset, audit_dict)


def counts() -> dict:
    return {
        "users": User.select().count(),
        "active_users": User.select().where(User.is_active == True).count(),  # noqa: E712
        "clients": Client.select().count(),
        "active_clients": Client.select().where(Client.is_active == True).count(),  # noqa: E712
        "roles": Role.select().count(),
        "permissions": Permission.select().count(),
        "audit_events_24h": AuditLog.select().where(AuditLog.created_at >= int(time.time()) - 86400).count(),
    }
