"""Login lockout: failed sign-ins lock, under concurrency too, without making
lockout a denial of service, keyed by the client's address behind the site's
proxies.

What locks is a pair (account, source address): its attempts are spent
before the password is checked, so parallel attempts cannot outrun the
limit; repeated locks of a pair last longer each time; an address that has
not failed keeps its attempt at the account. The address is the one the
site's proxies (FORWARDED_ALLOW_IPS) saw, never one the client wrote.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from conftest import ISSUER, PASSWORD, REDIS_URL, csrf_of, login
from fastapi.testclient import TestClient
from gatehouse.accounts.users import create_user_as_system as create_user
from gatehouse.crypto.passwords import burn_password_check, verify_password
from gatehouse.errors import ConfigError
from gatehouse.runtime.ratelimit import LockoutPolicy, address_key
from gatehouse.settings import load_settings
from gatehouse.store.models import AuditLog
from gatehouse.web.pages import login as login_module
from helpers import away_from_a_window_edge, signed_in
from prometheus_client import REGISTRY

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "perf"))
from appserver import AppServer, free_port  # noqa: E402 - the real server, as tests/perf runs it

PROXY = "10.0.0.11"
STRANGER = "203.0.113.66"
OWNER = "198.51.100.23"

LOCKED = "Too many failed sign-in attempts"


def events(event: str, **details) -> list[AuditLog]:
    rows = AuditLog.select().where(AuditLog.event == event).order_by(AuditLog.id)
    return [r for r in rows if all(json.loads(r.details).get(k) == v for k, v in details.items())]


def checked() -> int:
    """Password checks made: failures for a wrong password, and sign-ins."""
    return len(events("login.failed", reason="bad_credentials")) + len(events("login.succeeded"))


@pytest.fixture
def from_address(app):
    """from_address(address): a client of the app whose connection comes from `address`."""
    with ExitStack() as stack:

        def client(address: str) -> TestClient:
            test_client = TestClient(app, base_url=ISSUER, follow_redirects=False, client=(address, 40000))
            return stack.enter_context(test_client)

        yield client


def attempt(client, password, username="alice", headers=None):
    form = client.get("/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(form.text), "return_to": "/"},
        headers=headers or {},
    )


def wait_until(condition, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


@contextmanager
def real_server(env, tmp_path, **overrides):
    """gunicorn with the app's gunicorn_conf on the test database (tests/perf's AppServer); yields its URL."""
    port = free_port()
    environment = {
        "PATH": os.environ.get("PATH", ""),
        # The code this test imports, where PYTHONPATH names another checkout.
        **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"},
        **env,
        "SERVER_HOST": "127.0.0.1",
        "SERVER_PORT": str(port),
        # Over plain HTTP: cookies without Secure, which httpx sends back.
        "ISSUER": f"http://127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "METRICS_ENABLED": "false",
        **overrides,
    }
    cpus = ",".join(str(cpu) for cpu in sorted(os.sched_getaffinity(0)))
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    server = AppServer(environment, cpus, gunicorn, tmp_path / f"gunicorn-{port}.log")
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def held_checks(monkeypatch):
    """Password checks wait (on the event loop, the check not yet run) until
    released, so a test decides what runs in parallel with what. Yields
    (started, release): `started` lists the passwords whose check began;
    release(password) lets those through, release(None) all."""
    started: list[str] = []
    released: set = set()
    real = login_module.off_loop

    async def held(function, *args):
        if function in (verify_password, burn_password_check):
            password = args[-1]
            started.append(password)
            while None not in released and password not in released:
                await asyncio.sleep(0.005)
        return await real(function, *args)

    monkeypatch.setattr(login_module, "off_loop", held)
    yield started, released.add
    released.add(None)


# Failures lock the account ----------------------------------------------------


def test_five_failures_lock_the_account_even_with_the_right_password(http, user):
    for _ in range(4):
        assert login(http, password="wrong password").status_code == 401
    locking = login(http, password="wrong password")
    assert locking.status_code == 429 and LOCKED in locking.text
    refused = login(http)
    assert refused.status_code == 429 and LOCKED in refused.text
    assert "location" not in refused.headers
    assert not signed_in(user)


@pytest.mark.parametrize("env", [{"LOGIN_MAX_FAILURES": "2", "LOGIN_LOCKOUT_SECONDS": "3"}], indirect=True)
def test_lockout_threshold_and_duration_are_configurable(http, user):
    for _ in range(2):
        login(http, password="wrong password")
    locked_by = time.monotonic()  # the lock was set before this instant
    assert login(http).status_code == 429
    time.sleep(max(0.0, locked_by + 3.2 - time.monotonic()))
    assert login(http).status_code == 303
    assert signed_in(user)


def test_success_before_the_threshold_resets_the_failure_count(http, user):
    for _ in range(4):
        login(http, password="wrong password")
    assert login(http).status_code == 303
    for _ in range(4):
        login(http, password="wrong password")
    assert login(http).status_code == 303


def test_lockout_ignores_the_case_of_the_username(http, user):
    for _ in range(5):
        login(http, username="ALICE", password="wrong password")
    assert login(http).status_code == 429


def test_lockout_folds_case_by_the_rule_sign_in_uses(http, state):
    """Lockout counters are keyed by username_key: what locks an account is what signs in as it."""
    strasse = create_user("Straße", PASSWORD)
    for _ in range(5):
        login(http, username="STRASSE", password="wrong password")
    assert login(http, username="straße").status_code == 429
    assert not signed_in(strasse)


def test_locking_a_username_leaves_its_accented_twin_open(http, state):
    create_user("jose", PASSWORD)
    accented = create_user("José", PASSWORD)
    for _ in range(5):
        login(http, username="jose", password="wrong password")
    assert login(http, username="JOSE").status_code == 429
    assert login(http, username="josé").status_code == 303
    assert signed_in(accented)


def test_unknown_and_known_usernames_fail_and_lock_alike(http, user):
    unknown = login(http, username="nobody", password="wrong password")
    known = login(http, username="alice", password="wrong password")
    assert unknown.status_code == known.status_code == 401
    assert "Invalid username or password." in unknown.text and "Invalid username or password." in known.text
    for _ in range(4):
        login(http, username="nobody", password="wrong password")
    assert login(http, username="nobody", password="anything at all").status_code == 429


@pytest.mark.skipif(not REDIS_URL, reason="needs Redis (the MariaDB + Redis run)")
def test_lockout_is_shared_by_every_process_through_redis(http, second_app, user):
    for _ in range(5):
        login(http, password="wrong password")
    refused = login(second_app)
    assert refused.status_code == 429 and LOCKED in refused.text


# Concurrency ----------------------------------------------------------------


def test_parallel_attempts_check_at_most_the_limit_and_the_right_password_stays_out(http, user, held_checks):
    """15 wrong passwords at once, then the right one while they are all in
    flight: only LOGIN_MAX_FAILURES of them reach a password check."""
    started, release = held_checks
    csrf = csrf_of(http.get("/login").text)

    def post(password):
        return http.post("/login", data={"username": "alice", "password": password, "csrf_token": csrf})

    with ThreadPoolExecutor(16) as pool:
        wrong = [pool.submit(post, "wrong password") for _ in range(15)]
        # Every wrong attempt is either being checked or already answered.
        wait_until(lambda: len(started) + sum(f.done() for f in wrong) >= 15)
        right = pool.submit(post, PASSWORD)
        wait_until(lambda: len(started) + sum(f.done() for f in wrong) + right.done() >= 16)
        release(None)
        answers = [f.result() for f in wrong]
        right = right.result()
    assert len(started) <= 5, f"{len(started)} passwords were checked"
    assert right.status_code == 429 and LOCKED in right.text
    assert not signed_in(user)
    assert sorted(a.status_code for a in answers) == [401] * 4 + [429] * 11
    assert checked() == 5  # four 401s and the failure that locked; the right password was never checked


def test_a_lock_that_lands_while_the_right_password_is_checked_refuses_it(http, user, held_checks):
    started, release = held_checks
    csrf = csrf_of(http.get("/login").text)

    def post(password):
        return http.post("/login", data={"username": "alice", "password": password, "csrf_token": csrf})

    with ThreadPoolExecutor(1) as pool:
        right = pool.submit(post, PASSWORD)
        wait_until(lambda: PASSWORD in started)
        release("wrong password")
        for _ in range(5):  # until a failure locks the pair
            if post("wrong password").status_code == 429:
                break
        release(PASSWORD)
        right = right.result()
    assert right.status_code == 429 and LOCKED in right.text
    assert not signed_in(user)


@pytest.mark.skipif(not REDIS_URL, reason="several processes share the lockout through Redis (the MariaDB + Redis run)")
@pytest.mark.parametrize(
    "env",
    [{"ARGON2_MEMORY_COST": "19456", "ARGON2_TIME_COST": "2", "RATE_LIMIT_LOGIN_PER_MINUTE": "1000"}],
    indirect=True,
)
def test_parallel_attempts_on_several_gunicorn_workers_check_at_most_the_limit(env, state, user, tmp_path):
    """The production server (gunicorn, 3 workers, production argon2 cost):
    15 wrong passwords on 15 connections at once, then the right one."""
    with real_server(env, tmp_path, WEB_CONCURRENCY="3") as url:
        clients = [httpx.Client(base_url=url, timeout=60) for _ in range(16)]
        try:
            tokens = [csrf_of(client.get("/login").text) for client in clients]
            go = threading.Barrier(15)

            def post(i, password):
                if password != PASSWORD:
                    go.wait()
                data = {"username": "alice", "password": password, "csrf_token": tokens[i]}
                return clients[i].post("/login", data=data)

            with ThreadPoolExecutor(16) as pool:
                wrong = [pool.submit(post, i, "wrong password") for i in range(15)]
                # Once 10 are refused unchecked, all 15 have spent their attempt
                # (an unfixed server refuses none early: then fire after 10 s).
                deadline = time.monotonic() + 10
                while sum(f.done() for f in wrong) < 10 and time.monotonic() < deadline:
                    time.sleep(0.005)
                right = pool.submit(post, 15, PASSWORD).result()
                answers = [f.result() for f in wrong]
        finally:
            for client in clients:
                client.close()
    assert checked() <= 5, f"{checked()} passwords were checked: {sorted(a.status_code for a in answers)}"
    assert right.status_code == 429 and LOCKED in right.text
    assert not signed_in(user)


# Lockout as a denial of service --------------------------------------------


def test_a_stranger_cannot_lock_the_owner_out_from_an_address_that_has_not_failed(from_address, user):
    stranger, owner = from_address(STRANGER), from_address(OWNER)
    for _ in range(20):
        attempt(stranger, "wrong password")
    assert attempt(stranger, PASSWORD).status_code == 429
    assert attempt(owner, PASSWORD).status_code == 303
    assert signed_in(user)


@pytest.mark.parametrize(
    "env", [{"LOGIN_MAX_FAILURES": "1", "LOGIN_LOCKOUT_SECONDS": "1", "LOGIN_LOCKOUT_MAX_SECONDS": "3"}], indirect=True
)
def test_repeated_locks_of_an_address_last_longer_each_time_up_to_a_cap(from_address, user):
    stranger = from_address(STRANGER)
    lengths = []
    for _ in range(3):
        assert attempt(stranger, "wrong password").status_code == 429
        locked_by = time.monotonic()
        (row,) = events("login.locked_out")[len(lengths) :]
        lengths.append(json.loads(row.details)["seconds"])
        assert attempt(stranger, PASSWORD).status_code == 429  # locked, right password or not
        time.sleep(max(0.0, locked_by + lengths[-1] + 0.2 - time.monotonic()))
    assert lengths == [1, 2, 3]
    assert attempt(stranger, PASSWORD).status_code == 303  # the last lock is over


def test_lock_length_doubles_and_stops_at_the_cap():
    policy = LockoutPolicy(max_failures=5, seconds=900, max_seconds=86400)
    assert [policy.lock_seconds(n) for n in (1, 2, 3, 4, 7, 8, 100)] == [900, 1800, 3600, 7200, 57600, 86400, 86400]


@pytest.mark.parametrize("env", [{"LOGIN_ACCOUNT_MAX_FAILURES": "3"}], indirect=True)
def test_the_account_ceiling_gives_failed_addresses_one_attempt_and_leaves_clean_ones_open(from_address, user):
    """Guessing from many addresses: once the account has 3 failures, an
    address that failed is refused, a new one gets one attempt, and the owner
    signs in from an address that has not failed."""
    first, second, third = (from_address(f"192.0.2.{n}") for n in (1, 2, 3))
    for client in (first, second, third):
        assert attempt(client, "wrong password").status_code == 401
    assert attempt(first, PASSWORD).status_code == 429
    fourth = from_address("192.0.2.4")
    assert attempt(fourth, "wrong password").status_code == 401
    assert attempt(fourth, "another wrong one").status_code == 429
    assert len(events("login.locked_out", scope="account")) == 1
    assert attempt(from_address(OWNER), PASSWORD).status_code == 303
    assert signed_in(user)


def test_locks_are_counted_by_the_lockout_metric(http, user):
    before = REGISTRY.get_sample_value("oauth_account_lockouts_total") or 0.0
    for _ in range(5):
        attempt(http, "wrong password")
    assert REGISTRY.get_sample_value("oauth_account_lockouts_total") == before + 1


def test_ipv6_clients_are_keyed_by_their_64_prefix():
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_key("192.0.2.1") == "192.0.2.1"


# The client's address behind the proxies -----------------------------------


def failed_from(client, headers=None) -> str:
    """Fail a login with `headers` and return the address the audit row recorded."""
    attempt(client, "wrong password", username="nobody", headers=headers)
    return events("login.failed")[-1].ip


def test_forwarded_for_from_an_untrusted_peer_is_ignored(from_address, state):
    assert state.settings.forwarded_allow_ips == ()
    assert failed_from(from_address(STRANGER), {"X-Forwarded-For": "192.0.2.200"}) == STRANGER


def test_loopback_is_not_trusted_unless_configured(from_address, state):
    assert failed_from(from_address("127.0.0.1"), {"X-Forwarded-For": "192.0.2.200"}) == "127.0.0.1"


@pytest.mark.parametrize("env", [{"FORWARDED_ALLOW_IPS": f"{PROXY},10.0.1.0/24"}], indirect=True)
def test_behind_a_trusted_proxy_the_right_most_hop_is_the_client(from_address, state):
    proxy = from_address(PROXY)
    # nginx appends the address it saw to what the client sent.
    assert failed_from(proxy, {"X-Forwarded-For": f"192.0.2.200, 10.0.1.5, {OWNER}"}) == OWNER
    assert failed_from(from_address("10.0.1.7"), {"X-Forwarded-For": OWNER}) == OWNER
    assert failed_from(from_address(f"::ffff:{PROXY}"), {"X-Forwarded-For": OWNER}) == OWNER
    # Not from a proxy: the header is the client's own.
    assert failed_from(from_address(STRANGER), {"X-Forwarded-For": OWNER}) == STRANGER
    # A proxy's request without the header, or with a hop no proxy writes.
    assert failed_from(proxy) == PROXY
    assert failed_from(proxy, {"X-Forwarded-For": "192.0.2.200, not-an-address"}) == PROXY


@pytest.mark.parametrize("env", [{"FORWARDED_ALLOW_IPS": PROXY, "RATE_LIMIT_LOGIN_PER_MINUTE": "3"}], indirect=True)
def test_clients_behind_one_proxy_are_throttled_and_locked_apart(from_address, user):
    away_from_a_window_edge()
    proxy = from_address(PROXY)
    stranger, owner = {"X-Forwarded-For": STRANGER}, {"X-Forwarded-For": OWNER}
    answers = [attempt(proxy, "wrong password", headers=stranger).status_code for _ in range(4)]
    assert answers == [401, 401, 401, 429]  # the stranger's address is throttled
    assert attempt(proxy, PASSWORD, headers=owner).status_code == 303
    assert signed_in(user)


def test_forwarded_allow_ips_are_addresses_or_networks(env):
    env["FORWARDED_ALLOW_IPS"] = " 10.0.0.11, 10.0.1.0/24 ,2001:db8::/32,"
    assert [str(n) for n in load_settings(env).forwarded_allow_ips] == ["10.0.0.11/32", "10.0.1.0/24", "2001:db8::/32"]
    for bad in ("*", "proxy.example.org", "10.0.1.1/24"):
        env["FORWARDED_ALLOW_IPS"] = bad
        with pytest.raises(ConfigError, match="FORWARDED_ALLOW_IPS"):
            load_settings(env)


def test_the_longest_lock_is_at_least_the_first(env):
    env["LOGIN_LOCKOUT_SECONDS"] = str(8 * 86400 // 2)
    assert load_settings(env).login_lockout_max_seconds == 4 * 86400
    env["LOGIN_LOCKOUT_MAX_SECONDS"] = "60"
    with pytest.raises(ConfigError, match="LOGIN_LOCKOUT_MAX_SECONDS"):
        load_settings(env)


@pytest.mark.parametrize("env", [{"FORWARDED_ALLOW_IPS": "127.0.0.1"}], indirect=True)
def test_the_real_server_takes_only_the_hop_the_proxy_appended(env, state, tmp_path):
    """Run by gunicorn, the app still sees the connection's peer: a hop the
    client wrote is never taken, even when the proxy's own client is a
    proxy address (uvicorn's reading would skip to the client's hop)."""
    with real_server(env, tmp_path) as url, httpx.Client(base_url=url, timeout=30) as client:
        assert failed_from(client, {"X-Forwarded-For": f"192.0.2.200, {OWNER}"}) == OWNER
        assert failed_from(client, {"X-Forwarded-For": "192.0.2.200, 127.0.0.1"}) == "127.0.0.1"


def test_the_real_server_ignores_forwarded_for_on_loopback_by_default(env, state, tmp_path):
    with real_server(env, tmp_path) as url, httpx.Client(base_url=url, timeout=30) as client:
        assert failed_from(client, {"X-Forwarded-For": "192.0.2.200"}) == "127.0.0.1"
