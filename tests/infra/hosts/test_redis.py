"""What the redis role promises, on the hosts of `redis`: private address
and loopback only, passwords, AOF, limits.

Run by molecule/redis and the site scenarios (tests/infra/hosts/inventory.py).
"""

import re

import pytest
from inventory import hosts_checked, run_tier, setting, var

testinfra_hosts = hosts_checked("redis")

def to_bytes(size):
    """Redis's own reading of a size: 64mb is 64*1024*1024, 64m is 64*1000*1000."""
    number, unit = re.fullmatch(r"(\d+)\s*([a-z]*)", str(size).lower()).groups()
    redis_units = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}
    return int(number) * redis_units[unit]


@pytest.fixture(scope="module")
def name(host):
    return host.backend.get_hostname()


@pytest.fixture(scope="module")
def password(name):
    return var(name, "redis_password")


@pytest.fixture(scope="module")
def port(name):
    return int(setting(name, "redis", "redis_port"))


def cli(host, port, *args, user=None, password=None, address="127.0.0.1"):
    auth = f"REDISCLI_AUTH={password} " if password else ""
    who = f"--user {user} " if user else ""
    return host.run(f"{auth}redis-cli --no-auth-warning -h {address} -p {port} {who}" + " ".join(args))


def private_address(host):
    return host.ansible("setup", "gather_subset=network")["ansible_facts"]["ansible_default_ipv4"]["address"]


def test_service_running_and_enabled(host):
    svc = host.service("redis-server")
    assert svc.is_running
    assert svc.is_enabled


def test_listens_on_private_address_and_loopback_only(host, port):
    ip = private_address(host)
    assert host.socket(f"tcp://{ip}:{port}").is_listening
    assert host.socket(f"tcp://127.0.0.1:{port}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening


def test_password_required(host, port, password):
    out = cli(host, port, "ping")
    assert "NOAUTH" in out.stdout + out.stderr
    assert cli(host, port, "ping", password=password).stdout.strip() == "PONG"
    assert cli(host, port, "ping", password=password, address=private_address(host)).stdout.strip() == "PONG"


def test_app_user_can_use_data_but_not_admin_commands(host, port, password, name):
    user = setting(name, "redis", "redis_app_user")
    app = {"user": user, "password": password}
    assert cli(host, port, "set", "gh:probe", "1", "ex", "60", **app).stdout.strip() == "OK"
    assert cli(host, port, "get", "gh:probe", **app).stdout.strip() == "1"
    assert "NOPERM" in cli(host, port, "flushall", **app).stdout
    assert "NOPERM" in cli(host, port, "config", "get", "maxmemory", **app).stdout


def test_persistence_and_memory_settings(host, port, password, name):
    def config_get(key):
        return cli(host, port, "config", "get", key, password=password).stdout.split()[1]

    assert config_get("appendonly") == ("yes" if setting(name, "redis", "redis_appendonly") else "no")
    assert config_get("appendfsync") == setting(name, "redis", "redis_appendfsync")
    assert config_get("maxmemory") == str(to_bytes(setting(name, "redis", "redis_maxmemory")))
    assert config_get("maxmemory-policy") == setting(name, "redis", "redis_maxmemory_policy")
    assert host.file("/var/lib/redis/appendonlydir").is_directory


def test_no_plaintext_password_on_disk(host, password):
    for path in ("/etc/redis/redis.conf", "/etc/redis/gatehouse-users.conf"):
        f = host.file(path)
        assert f.mode == 0o640, path
        assert password not in f.content_string, path
    users = host.file("/etc/redis/gatehouse-users.conf")
    assert users.user == "root"
    assert users.group == "redis"


def test_private_users_dropin_only_where_asked(host, name):
    dropin = host.file("/etc/systemd/system/redis-server.service.d/private-users.conf")
    if setting(name, "redis", "redis_private_users"):
        assert not dropin.exists
    else:
        assert dropin.contains("PrivateUsers=false")


def test_missing_password_fails_before_any_change(host, name):
    # Bad input: the tier stops in its preflight, naming the variable, and
    # the host's configuration is untouched.
    before = host.file("/etc/redis/redis.conf").md5sum
    result = run_tier("cache.yml", name, "-e", "redis_password=''", "-e", "redis_maxmemory=1mb")
    assert result.returncode != 0
    assert "redis_password must be set" in result.stdout + result.stderr
    assert host.file("/etc/redis/redis.conf").md5sum == before
