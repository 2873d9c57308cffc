"""Configuration: one typed object built from the environment, every error naming the variable."""

from __future__ import annotations

import dataclasses

import pytest
from gatehouse.errors import ConfigError
from gatehouse.settings import Settings, load_settings
from helpers import ADMIN_LIMIT, LIMIT

# Required, with no default (test_sessions.py checks that it is).
SECRET = {"SESSION_SECRET": "x" * 32}

# Defaults -------------------------------------------------------------------


def test_defaults_follow_the_reference_system_and_the_issue():
    settings = load_settings(SECRET)
    assert settings.issuer == "http://127.0.0.1:3001"
    assert settings.database_url == "sqlite:////var/lib/gatehouse/gatehouse.db"
    assert settings.jwt_algorithm == "RS256"
    assert settings.jwt_keys_dir == "/etc/gatehouse/keys"
    assert settings.access_token_ttl == 3600
    assert settings.authorization_code_ttl == 600
    assert settings.refresh_token_ttl == 30 * 86400
    assert (settings.login_max_failures, settings.login_lockout_seconds) == (5, 900)  # 5 failures -> 15 min
    assert (settings.server_port, settings.metrics_port) == (3001, 9091)
    assert settings.rate_limit_enabled is True


def test_argon2_defaults_are_the_owasp_parameters():
    settings = load_settings(SECRET)
    # OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
    assert (settings.argon2_memory_cost, settings.argon2_time_cost, settings.argon2_parallelism) == (19456, 2, 1)


def test_settings_are_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        load_settings(SECRET).issuer = "https://elsewhere.example"


@pytest.mark.parametrize(
    "name",
    [
        "REDIS_URL",
        "JWT_ALGORITHM",
        "JWT_KEYS_DIR",
        "OAUTH2_ACCESS_TOKEN_TTL",
        "OAUTH2_AUTHORIZATION_CODE_TTL",
        "RATE_LIMIT_ENABLED",
        "LOGIN_MAX_FAILURES",
        "SESSION_COOKIE_NAME",
        "LOG_LEVEL",
        "METRICS_PORT",
        "SERVER_HOST",
    ],
)
def test_an_empty_value_means_the_default(name):
    assert load_settings({**SECRET, name: ""}) == load_settings(SECRET)


@pytest.mark.parametrize("name", ["ISSUER", "DATABASE_URL"])
def test_an_empty_issuer_or_database_url_is_an_error_not_the_development_default(name):
    with pytest.raises(ConfigError, match=name):
        load_settings({name: ""})


def test_the_new_settings_have_sensible_defaults(env):
    settings = load_settings(env)
    assert settings.max_request_body_bytes == LIMIT
    assert settings.admin_max_request_body_bytes == ADMIN_LIMIT
    assert settings.session_idle_timeout == 1800


# Values that are accepted ------------------------------------------------------


def test_values_are_read_from_the_environment():
    settings = load_settings(
        {
            **SECRET,
            "ISSUER": "https://auth.example.com/",
            "DATABASE_URL": "mysql://gatehouse:pw@db.example.com:3306/gatehouse",
            "REDIS_URL": "redis://:pw@cache:6379/0",
            "REDIS_SENTINELS": "s1:26379, s2:26379",
            "JWT_ALGORITHM": "EdDSA",
            "OAUTH2_ACCESS_TOKEN_TTL": "900",
            "OAUTH2_AUTHORIZATION_CODE_TTL": "60",
            "RATE_LIMIT_TOKEN_PER_MINUTE": "100",
            "LOGIN_MAX_FAILURES": "3",
            "LOGIN_LOCKOUT_SECONDS": "60",
            "SERVER_HOST": "0.0.0.0",
            "WEB_CONCURRENCY": "4",
        }
    )
    assert settings.issuer == "https://auth.example.com"  # no trailing slash: it prefixes every endpoint
    assert settings.redis_sentinels == (("s1", 26379), ("s2", 26379))
    assert settings.jwt_algorithm == "EdDSA"
    assert (settings.access_token_ttl, settings.authorization_code_ttl) == (900, 60)
    assert settings.rate_limit_token_per_minute == 100
    assert (settings.login_max_failures, settings.login_lockout_seconds) == (3, 60)
    assert settings.metrics_host == "0.0.0.0"  # follows SERVER_HOST unless set
    assert settings.web_concurrency == 4


@pytest.mark.parametrize("issuer", ["http://127.0.0.1:3001", "http://localhost:8080", "http://[::1]:3001"])
def test_http_issuer_is_allowed_on_loopback(issuer):
    assert load_settings({**SECRET, "ISSUER": issuer}).issuer == issuer


def test_issuer_may_have_a_path():
    assert load_settings({**SECRET, "ISSUER": "https://example.com/auth"}).endpoint("/jwks.json") == (
        "https://example.com/auth/jwks.json"
    )


@pytest.mark.parametrize("issuer, secure", [("https://auth.example.com", True), ("http://127.0.0.1:3001", False)])
def test_secure_cookies_follow_the_issuer_scheme(issuer, secure):
    assert load_settings({**SECRET, "ISSUER": issuer}).secure_cookies is secure


@pytest.mark.parametrize("value, expected", [("1", True), ("TRUE", True), ("on", True), ("no", False), ("0", False)])
def test_booleans_accept_the_usual_spellings(value, expected):
    assert load_settings({**SECRET, "RATE_LIMIT_ENABLED": value}).rate_limit_enabled is expected


def test_authorization_code_ttl_may_be_600_seconds():
    assert load_settings({**SECRET, "OAUTH2_AUTHORIZATION_CODE_TTL": "600"}).authorization_code_ttl == 600


# Errors name the variable -------------------------------------------------------


@pytest.mark.parametrize(
    "name, value",
    [
        ("ISSUER", "ftp://x"),
        ("ISSUER", "https://"),
        ("ISSUER", "http://auth.example.com"),
        ("ISSUER", "https://auth.example.com/?tenant=1"),
        ("ISSUER", "https://auth.example.com/#top"),
        ("DATABASE_URL", "postgres://db/gatehouse"),
        ("DATABASE_URL", "mysql://user:pw@db.example.com"),
        ("REDIS_URL", "http://cache:6379"),
        ("REDIS_SENTINELS", "s1"),
        ("REDIS_SENTINELS", "s1:port"),
        ("REDIS_TIMEOUT_MS", "0"),
        ("JWT_ALGORITHM", "HS256"),
        ("JWT_ALGORITHM", "none"),
        ("OAUTH2_ACCESS_TOKEN_TTL", "an hour"),
        ("OAUTH2_ACCESS_TOKEN_TTL", "10"),
        ("OAUTH2_AUTHORIZATION_CODE_TTL", "601"),
        ("OAUTH2_REFRESH_TOKEN_TTL", "-1"),
        ("OAUTH2_ID_TOKEN_TTL", "1.5"),
        ("RATE_LIMIT_ENABLED", "maybe"),
        ("RATE_LIMIT_TOKEN_PER_MINUTE", "0"),
        ("RATE_LIMIT_LOGIN_PER_MINUTE", "many"),
        ("LOGIN_MAX_FAILURES", "0"),
        ("LOGIN_LOCKOUT_SECONDS", "0"),
        ("SESSION_SECRET", "short"),
        ("SESSION_TTL", "30"),
        ("SESSION_COOKIE_NAME", "bad name;"),
        ("ARGON2_MEMORY_COST", "8"),
        ("ARGON2_TIME_COST", "0"),
        ("ARGON2_PARALLELISM", "x"),
        ("LOG_LEVEL", "LOUD"),
        ("LOG_FORMAT", "xml"),
        ("METRICS_ENABLED", "sometimes"),
        ("METRICS_PORT", "70000"),
        ("SERVER_PORT", "0"),
        ("WEB_CONCURRENCY", "0"),
        ("DATABASE_MAX_CONNECTIONS", "0"),
        ("CLIENT_CACHE_SECONDS", "-5"),
    ],
)
def test_a_bad_value_is_a_config_error_naming_the_variable(name, value):
    with pytest.raises(ConfigError) as raised:
        load_settings({name: value})
    assert name in str(raised.value)


@pytest.mark.parametrize(
    "name, value",
    [
        ("MAX_REQUEST_BODY_BYTES", "100"),
        ("MAX_REQUEST_BODY_BYTES", "lots"),
        ("ADMIN_MAX_REQUEST_BODY_BYTES", "0"),
        ("SESSION_IDLE_TIMEOUT", "-1"),
        ("SESSION_IDLE_TIMEOUT", "30"),
        ("SESSION_COOKIE_NAME", "__Host-gatehouse"),
    ],
)
def test_a_bad_new_setting_is_a_config_error_naming_it(env, name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({**env, name: value})


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


def test_the_secret_itself_is_not_echoed_in_an_error():
    with pytest.raises(ConfigError) as raised:
        load_settings({"SESSION_SECRET": "hunter2-but-too-short"})
    assert "hunter2" not in str(raised.value)


def test_the_password_in_a_bad_redis_url_is_not_echoed():
    with pytest.raises(ConfigError) as raised:
        load_settings({"REDIS_URL": "http://:supersecretpassword@cache:6379"})
    assert "supersecretpassword" not in str(raised.value)


def test_every_settings_field_has_a_default():
    for field in dataclasses.fields(Settings):
        assert field.default is not dataclasses.MISSING, field.name
