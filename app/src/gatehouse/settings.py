"""One typed settings object, built once from the environment.

Every error names the variable that is wrong, so `gatehouse check-config`
and the service's start-up say exactly what to fix.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from gatehouse.errors import ConfigError
from gatehouse.oauth.redirect_uris import is_loopback_hostname

SUPPORTED_ALGORITHMS = ("RS256", "ES256", "EdDSA")
SESSION_SECRET_MIN = 32
# A session's last_seen_at is written at most this often (sessions.Sessions.load).
SESSION_TOUCH_SECONDS = 60


def _str(env, name, default):
    # Empty means unset, as for numbers: JWT_KEYS_DIR="" must not mean the
    # working directory, nor SERVER_HOST="" every interface.
    return env.get(name) or default


def _int(env, name, default, minimum=None, maximum=None):
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, got {value}")
    return value


def _bool(env, name, default):
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _choice(env, name, default, choices):
    value = env.get(name) or default
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    issuer: str = "http://127.0.0.1:3001"
    database_url: str = "sqlite:////var/lib/gatehouse/gatehouse.db"
    database_max_connections: int = 20
    redis_url: str = ""
    redis_sentinels: tuple = ()
    redis_sentinel_master: str = "gatehouse"
    redis_timeout_ms: int = 200
    jwt_algorithm: str = "RS256"
    jwt_keys_dir: str = "/etc/gatehouse/keys"
    jwt_private_key_path: str = ""
    access_token_ttl: int = 3600
    refresh_token_ttl: int = 30 * 86400
    authorization_code_ttl: int = 600
    id_token_ttl: int = 3600
    rate_limit_enabled: bool = True
    rate_limit_token_per_minute: int = 6000
    rate_limit_login_per_minute: int = 30
    login_max_failures: int = 5
    login_lockout_seconds: int = 900
    login_lockout_max_seconds: int = 86400
    login_account_max_failures: int = 50
    # The peers whose X-Forwarded-For is read (the site's proxies); empty: none.
    forwarded_allow_ips: tuple = ()
    session_secret: str = ""
    session_ttl: int = 8 * 3600
    session_cookie_name: str = "gatehouse_session"
    # Seconds a session may go unused before it ends, besides its SESSION_TTL; 0: no idle timeout.
    session_idle_timeout: int = 1800
    # Request bodies (web/middleware.BodyLimit): the admin API and portal take bigger ones.
    max_request_body_bytes: int = 64 * 1024
    admin_max_request_body_bytes: int = 256 * 1024
    argon2_time_cost: int = 2
    argon2_memory_cost: int = 19456
    argon2_parallelism: int = 1
    log_level: str = "INFO"
    log_format: str = "json"
    log_file: str = ""
    metrics_enabled: bool = True
    metrics_port: int = 9091
    metrics_host: str = "127.0.0.1"
    server_host: str = "127.0.0.1"
    server_port: int = 3001
    web_concurrency: int = 2
    client_cache_seconds: int = 10
    audit_flush_seconds: int = 1

    @property
    def secure_cookies(self) -> bool:
        return self.issuer.startswith("https://")

    @property
    def session_cookie(self) -> str:
        """The session cookie's name as sent: under https `__Host-` + SESSION_COOKIE_NAME, so the
        browser keeps it only if Secure, Path=/ and without Domain (RFC 6265bis §4.1.3.2) and no
        sibling domain or plain-http page can set it; under http (loopback development) the plain name."""
        return ("__Host-" if self.secure_cookies else "") + self.session_cookie_name

    @property
    def max_token_lifetime(self) -> int:
        """How long a signing key must stay published after it last signed."""
        return max(self.access_token_ttl, self.id_token_ttl)

    def endpoint(self, path: str) -> str:
        return self.issuer + path


def _issuer(env):
    value = env.get("ISSUER", Settings.issuer).rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ConfigError(f"ISSUER must be an http(s) URL, got {value!r}")
    if parts.query or parts.fragment:
        raise ConfigError("ISSUER must not have a query or fragment (RFC 8414)")
    loopback = is_loopback_hostname(parts.hostname)
    if parts.scheme == "http" and not loopback:
        raise ConfigError(f"ISSUER must use https unless it is a loopback address, got {value!r}")
    return value


def _database_url(env):
    value = env.get("DATABASE_URL", Settings.database_url)
    scheme = value.split(":", 1)[0]
    if scheme not in ("sqlite", "mysql", "mariadb"):
        raise ConfigError(f"DATABASE_URL must start with sqlite:// or mysql://, got scheme {scheme!r}")
    if scheme in ("mysql", "mariadb"):
        parts = urlsplit(value)
        if not parts.hostname or not parts.path.strip("/"):
            raise ConfigError("DATABASE_URL must name a host and a database: mysql://user:pass@host:3306/db")
    return value


def _redis_url(env):
    value = env.get("REDIS_URL", "")
    if value and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"REDIS_URL must start with redis://, rediss:// or unix://, got {value[:10]!r}")
    return value


def _sentinels(env):
    raw = env.get("REDIS_SENTINELS", "")
    result = []
    for item in filter(None, (p.strip() for p in raw.split(","))):
        host, _, port = item.rpartition(":")
        if not host or not (port.isascii() and port.isdigit()):
            raise ConfigError(f"REDIS_SENTINELS must be host:port[,host:port], got {item!r}")
        result.append((host, int(port)))
    return tuple(result)


def _forwarded_allow_ips(env):
    """FORWARDED_ALLOW_IPS: the proxies whose X-Forwarded-For gives the client's
    address, as addresses or networks; empty: no peer is trusted (not even
    loopback), and the client's address is the connection's."""
    result = []
    for item in filter(None, (p.strip() for p in env.get("FORWARDED_ALLOW_IPS", "").split(","))):
        if item == "*":
            raise ConfigError(
                "FORWARDED_ALLOW_IPS must list the proxies' addresses: '*' would let any client choose its address"
            )
        try:
            result.append(ipaddress.ip_network(item))
        except ValueError:
            raise ConfigError(
                f"FORWARDED_ALLOW_IPS must be IP addresses or networks (10.0.0.0/24), comma-separated, got {item!r}"
            ) from None
    return tuple(result)


def _lockout_max_seconds(env, lockout_seconds):
    # Unset, it is at least the first lock's length, so LOGIN_LOCKOUT_SECONDS alone stays valid.
    value = _int(env, "LOGIN_LOCKOUT_MAX_SECONDS", max(86400, lockout_seconds), 1, 86400 * 30)
    if value < lockout_seconds:
        raise ConfigError(
            f"LOGIN_LOCKOUT_MAX_SECONDS must be at least LOGIN_LOCKOUT_SECONDS ({lockout_seconds}), got {value}"
        )
    return value


def _idle_timeout(env):
    value = _int(env, "SESSION_IDLE_TIMEOUT", 1800, 0, 30 * 86400)
    if 0 < value < 2 * SESSION_TOUCH_SECONDS:
        # Last use is recorded to the minute (SESSION_TOUCH_SECONDS): a shorter timeout would end sessions in use.
        raise ConfigError(f"SESSION_IDLE_TIMEOUT must be 0 (off) or at least {2 * SESSION_TOUCH_SECONDS} seconds")
    return value


def load_settings(env=None) -> Settings:
    """Build Settings from the environment; raise ConfigError naming the variable."""
    env = os.environ if env is None else env
    settings = Settings(
        issuer=_issuer(env),
        database_url=_database_url(env),
        database_max_connections=_int(env, "DATABASE_MAX_CONNECTIONS", 20, 1, 1000),
        redis_url=_redis_url(env),
        redis_sentinels=_sentinels(env),
        redis_sentinel_master=_str(env, "REDIS_SENTINEL_MASTER", "gatehouse"),
        redis_timeout_ms=_int(env, "REDIS_TIMEOUT_MS", 200, 10, 10000),
        jwt_algorithm=_choice(env, "JWT_ALGORITHM", "RS256", SUPPORTED_ALGORITHMS),
        jwt_keys_dir=_str(env, "JWT_KEYS_DIR", Settings.jwt_keys_dir),
        jwt_private_key_path=_str(env, "JWT_PRIVATE_KEY_PATH", ""),
        access_token_ttl=_int(env, "OAUTH2_ACCESS_TOKEN_TTL", 3600, 60, 86400),
        refresh_token_ttl=_int(env, "OAUTH2_REFRESH_TOKEN_TTL", 30 * 86400, 300, 365 * 86400),
        authorization_code_ttl=_int(env, "OAUTH2_AUTHORIZATION_CODE_TTL", 600, 10, 600),
        id_token_ttl=_int(env, "OAUTH2_ID_TOKEN_TTL", 3600, 60, 86400),
        rate_limit_enabled=_bool(env, "RATE_LIMIT_ENABLED", True),
        rate_limit_token_per_minute=_int(env, "RATE_LIMIT_TOKEN_PER_MINUTE", 6000, 1),
        rate_limit_login_per_minute=_int(env, "RATE_LIMIT_LOGIN_PER_MINUTE", 30, 1),
        login_max_failures=_int(env, "LOGIN_MAX_FAILURES", 5, 1, 1000),
        login_lockout_seconds=_int(env, "LOGIN_LOCKOUT_SECONDS", 900, 1, 86400 * 7),
        login_lockout_max_seconds=_lockout_max_seconds(env, _int(env, "LOGIN_LOCKOUT_SECONDS", 900, 1, 86400 * 7)),
        login_account_max_failures=_int(env, "LOGIN_ACCOUNT_MAX_FAILURES", 50, 0, 1_000_000),
        forwarded_allow_ips=_forwarded_allow_ips(env),
        session_secret=_str(env, "SESSION_SECRET", ""),
        session_ttl=_int(env, "SESSION_TTL", 8 * 3600, 60, 30 * 86400),
        session_cookie_name=_str(env, "SESSION_COOKIE_NAME", "gatehouse_session"),
        session_idle_timeout=_idle_timeout(env),
        max_request_body_bytes=_int(env, "MAX_REQUEST_BODY_BYTES", 64 * 1024, 1024, 64 * 1024 * 1024),
        admin_max_request_body_bytes=_int(env, "ADMIN_MAX_REQUEST_BODY_BYTES", 256 * 1024, 1024, 64 * 1024 * 1024),
        argon2_time_cost=_int(env, "ARGON2_TIME_COST", 2, 1, 100),
        argon2_memory_cost=_int(env, "ARGON2_MEMORY_COST", 19456, 1024, 4 * 1024 * 1024),
        argon2_parallelism=_int(env, "ARGON2_PARALLELISM", 1, 1, 64),
        log_level=_choice(env, "LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
        log_format=_choice(env, "LOG_FORMAT", "json", ("json", "text")),
        log_file=_str(env, "LOG_FILE", ""),
        metrics_enabled=_bool(env, "METRICS_ENABLED", True),
        metrics_port=_int(env, "METRICS_PORT", 9091, 1, 65535),
        metrics_host=_str(env, "METRICS_HOST", _str(env, "SERVER_HOST", "127.0.0.1")),
        server_host=_str(env, "SERVER_HOST", "127.0.0.1"),
        server_port=_int(env, "SERVER_PORT", 3001, 1, 65535),
        web_concurrency=_int(env, "WEB_CONCURRENCY", 2, 1, 256),
        client_cache_seconds=_int(env, "CLIENT_CACHE_SECONDS", 10, 0, 3600),
        audit_flush_seconds=_int(env, "AUDIT_FLUSH_SECONDS", 1, 0, 60),
    )
    if settings.session_cookie_name and not settings.session_cookie_name.replace("_", "").replace("-", "").isalnum():
        raise ConfigError("SESSION_COOKIE_NAME may hold only letters, digits, '-' and '_'")
    if settings.session_cookie_name.lower().startswith(("__host-", "__secure-")):
        raise ConfigError("SESSION_COOKIE_NAME must not carry a __Host-/__Secure- prefix: under https __Host- is added")
    # Last: an environment with another mistake names that one first.
    if len(settings.session_secret) < SESSION_SECRET_MIN:
        raise ConfigError(
            f"SESSION_SECRET is required: at least {SESSION_SECRET_MIN} random characters "
            "(e.g. `openssl rand -base64 48`); it keys the stored session ids and the login form's CSRF token"
        )
    return settings
