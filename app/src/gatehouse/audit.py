"""Audit events: a row in `audit_logs` and a log line, for every security-relevant act."""

from __future__ import annotations

import json
import logging
import time

from .logs import request_id_var
from .models import AuditLog

log = logging.getLogger("gatehouse.audit")

EVENTS = {
    "login.succeeded",
    "login.failed",
    "login.locked_out",
    "token.issued",
    "token.refreshed",
    "token.revoked",
    "code.reuse_detected",
    "refresh.replay_detected",
    "consent.granted",
    "logout",
    "client.created",
    "client.updated",
    "client.deleted",
    "client.secret_rotated",
    "user.created",
    "user.updated",
    "user.deleted",
    "role.changed",
    "permission.changed",
    "keys.rotated",
}


def record(event: str, actor: str | None = None, subject: str | None = None, ip: str | None = None, **details) -> None:
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}")
    request_id = request_id_var.get()
    AuditLog.create(
        created_at=int(time.time()),
        event=event,
        actor=actor,
        subject=subject,
        ip=ip,
        request_id=request_id,
        details=json.dumps(details, default=str),
    )
    log.info(event, extra={"audit": True, "event": event, "actor": actor, "subject": subject, "ip": ip, **details})
