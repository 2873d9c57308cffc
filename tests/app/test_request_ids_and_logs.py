"""Request ids and logs (issue §7): X-Request-ID is echoed (or made up) and
carried by every JSON log line of the request; audit events are log lines too."""

from __future__ import annotations

import json
import logging

import pytest
from conftest import basic, login
from gatehouse.runtime.logs import JsonFormatter


@pytest.fixture
def log_lines():
    """Every record of the gatehouse loggers, formatted by the production JSON formatter."""
    lines: list[dict] = []

    class Capture(logging.Handler):
        def emit(self, record):
            lines.append(json.loads(self.format(record)))

    handler = Capture()
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("gatehouse")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_x_request_id_is_echoed_and_carried_by_every_log_line_of_the_request(http, service, log_lines):
    response = http.post(
        "/api/v2/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={**basic(*service), "X-Request-ID": "req-0042"},
    )
    assert response.headers["x-request-id"] == "req-0042"
    mine = [line for line in log_lines if line.get("request_id") == "req-0042"]
    loggers = {line["logger"] for line in mine}
    assert {"gatehouse.access", "gatehouse.audit"} <= loggers
    access = next(line for line in mine if line["logger"] == "gatehouse.access")
    assert access["path"] == "/api/v2/oauth/token" and access["status"] == 200 and access["method"] == "POST"
    assert {"timestamp", "level", "message", "duration_ms"} <= set(access)


def test_request_without_usable_request_id_gets_a_generated_one(http, log_lines):
    for incoming in (None, "has spaces", "x" * 65):
        headers = {"X-Request-ID": incoming} if incoming else {}
        generated = http.get("/health/live", headers=headers).headers["x-request-id"]
        assert generated != incoming and len(generated) == 32 and int(generated, 16) >= 0
        assert any(line.get("request_id") == generated for line in log_lines)


def test_audit_events_are_logged_as_json_lines(http, user, log_lines):
    login(http)
    audit = [line for line in log_lines if line.get("audit")]
    assert audit and audit[-1]["event"] == "login.succeeded"
    assert audit[-1]["logger"] == "gatehouse.audit"
