"""The busiest routes skip FastAPI's stack (web/hot_routes.py) yet answer as every other route does."""

from __future__ import annotations

import pytest
from conftest import basic
from helpers import TOKEN


@pytest.mark.parametrize("path", [TOKEN, "/api/v2/oauth/introspect", "/api/v2/oauth/revoke"])
def test_other_methods_on_a_hot_route_are_405(http, path):
    response = http.get(path)
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


def test_a_failure_inside_a_hot_route_is_a_json_500_without_details(http, service, state, monkeypatch, caplog):
    def broken(request):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(state.oauth, "create_token_response", broken)
    response = http.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic(*service))
    assert response.status_code == 500
    assert response.json() == {"error": "server_error", "error_description": "internal error"}
    assert "secret detail" not in response.text
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-request-id"]
    assert "secret detail" in caplog.text  # logged for the operator


def test_hot_routes_carry_the_security_headers_and_request_id(http, service):
    response = http.post(
        TOKEN,
        data={"grant_type": "client_credentials"},
        headers=basic(
            *service,
        ),
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    given = http.get("/jwks.json", headers={"X-Request-Id": "trace-42"})
    assert given.headers["x-request-id"] == "trace-42"
