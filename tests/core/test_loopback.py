"""The loopback interface, one definition (oauth.redirect_uris) for redirect URIs (RFC 8252 §7.3, §8.3) and the issuer."""

from __future__ import annotations

import pytest
from gatehouse.errors import ConfigError
from gatehouse.oauth import redirect_uris
from gatehouse.settings import load_settings


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_the_loopback_hosts_as_urlsplit_gives_them(host):
    assert redirect_uris.is_loopback_hostname(host)


@pytest.mark.parametrize(
    "host", [None, "", "127.0.0.2", "0:0:0:0:0:0:0:1", "localhost.example", "[::1]x", "example.test"]
)
def test_anything_else_is_not_loopback(host):
    assert not redirect_uris.is_loopback_hostname(host)


@pytest.mark.parametrize("issuer", ["http://127.0.0.1:3001", "http://[::1]:3001", "http://localhost:3001"])
def test_a_plain_http_issuer_is_allowed_on_each_loopback_host(tmp_path, issuer):
    env = {"ISSUER": issuer, "DATABASE_URL": f"sqlite:///{tmp_path}/g.db", "SESSION_SECRET": "s" * 40}
    assert load_settings(env).issuer == issuer


def test_a_plain_http_issuer_elsewhere_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="https"):
        load_settings({"ISSUER": "http://127.0.0.2:3001", "DATABASE_URL": f"sqlite:///{tmp_path}/g.db"})


@pytest.mark.parametrize("uri", ["http://127.0.0.1:9/cb", "http://[::1]:9/cb", "http://localhost:9/cb"])
def test_plain_http_redirect_uris_are_allowed_on_the_same_hosts(uri):
    assert redirect_uris.is_valid(uri)


def test_only_the_ip_literals_get_the_port_exception():
    assert redirect_uris.matches("http://127.0.0.1:8080/cb", "http://127.0.0.1:9999/cb")
    assert redirect_uris.matches("http://[::1]:8080/cb", "http://[::1]:9999/cb")
    assert not redirect_uris.matches("http://localhost:8080/cb", "http://localhost:9999/cb")
