"""Health (issue §7): /health with its dependencies, /health/live, and
/health/ready (the database answers, the schema is current, a key signs)."""

from __future__ import annotations

from datetime import datetime

from conftest import ISSUER, REDIS_URL
from fastapi.testclient import TestClient
from gatehouse import __version__
from gatehouse.crypto.key_set import MANIFEST
from gatehouse.services import build
from gatehouse.settings import load_settings
from gatehouse.store.migrate import SchemaMigration
from gatehouse.web.app import create_app
from helpers import free_port


def test_health_reports_status_service_version_timestamp_and_dependencies(http):
    response = http.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["service"] == "gatehouse"
    assert body["version"] == __version__
    assert datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00")).tzinfo is not None
    assert body["dependencies"]["database"]["status"] == "connected"
    assert body["dependencies"]["cache"]["status"] == ("connected" if REDIS_URL else "not_configured")
    assert response.headers["cache-control"] == "no-store"


def test_health_live_answers_alive(http):
    response = http.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


def test_health_ready_when_database_answers_schema_is_current_and_a_key_signs(http):
    response = http.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_health_ready_is_503_while_migrations_are_pending(http, state):
    SchemaMigration.delete().execute()
    response = http.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["status"] == "not_ready"
    assert "migrations pending: 0001_initial, 0002_username_key, 0003_security" in response.json()["problems"]


def test_health_ready_is_503_without_a_signing_key(http, state):
    (state.keys.keys_dir / MANIFEST).unlink()
    state.keys.load()
    response = http.get("/health/ready")
    assert response.status_code == 503
    assert any("rotate-keys" in problem for problem in response.json()["problems"])


def test_unreachable_database_is_unhealthy_and_not_ready_but_live(env, tmp_path):
    env["DATABASE_URL"] = f"mysql://gatehouse:x@127.0.0.1:{free_port()}/gatehouse"
    env["REDIS_URL"] = ""
    state = build(load_settings(env))
    with TestClient(create_app(state=state), base_url=ISSUER) as http:
        health = http.get("/health")
        assert health.status_code == 503
        assert health.json()["status"] == "unhealthy"
        assert health.json()["dependencies"]["database"]["status"] == "disconnected"
        assert http.get("/health/ready").status_code == 503
        assert http.get("/health/live").status_code == 200
