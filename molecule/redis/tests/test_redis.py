"""The redis role: private address and loopback only, passwords, AOF, limits."""

import os
import subprocess

PASSWORD = "molecule-test-password-0123456789"


def cli(host, *args, user=None, password=PASSWORD, address="127.0.0.1"):
    auth = f"REDISCLI_AUTH={password} " if password else ""
    who = f"--user {user} " if user else ""
    return host.run(
        f"{auth}redis-cli --no-auth-warning -h {address} {who}" + " ".join(args)
    )


def private_address(host):
    return host.ansible("setup", "gather_subset=network")["ansible_facts"][
        "ansible_default_ipv4"
    ]["address"]


def test_service_running_and_enabled(host):
    svc = host.service("redis-server")
    assert svc.is_running
    assert svc.is_enabled


def test_listens_on_private_address_and_loopback_only(host):
    ip = private_address(host)
    assert host.socket(f"tcp://{ip}:6379").is_listening
    assert host.socket("tcp://127.0.0.1:6379").is_listening
    assert not host.socket("tcp://0.0.0.0:6379").is_listening


def test_password_required(host):
    out = cli(host, "ping", password=None)
    assert "NOAUTH" in out.stdout + out.stderr
    assert cli(host, "ping").stdout.strip() == "PONG"
    assert cli(host, "ping", address=private_address(host)).stdout.strip() == "PONG"


def test_app_user_can_use_data_but_not_admin_commands(host):
    assert cli(host, "set", "gh:probe", "1", "ex", "60", user="gatehouse").stdout.strip() == "OK"
    assert cli(host, "get", "gh:probe", user="gatehouse").stdout.strip() == "1"
    assert "NOPERM" in cli(host, "flushall", user="gatehouse").stdout
    assert "NOPERM" in cli(host, "config", "get", "maxmemory", user="gatehouse").stdout


def test_persistence_and_memory_settings(host):
    def config_get(key):
        return cli(host, "config", "get", key).stdout.split()[1]

    assert config_get("appendonly") == "yes"
    assert config_get("appendfsync") == "everysec"
    assert config_get("maxmemory") == str(64 * 1024 * 1024)
    assert config_get("maxmemory-policy") == "volatile-lru"
    assert host.file("/var/lib/redis/appendonlydir").is_directory


def test_no_plaintext_password_on_disk(host):
    for path in ("/etc/redis/redis.conf", "/etc/redis/gatehouse-users.conf"):
        f = host.file(path)
        assert f.mode == 0o640, path
        assert PASSWORD not in f.content_string, path
    users = host.file("/etc/redis/gatehouse-users.conf")
    assert users.user == "root"
    assert users.group == "redis"


def test_private_users_dropin_only_where_asked(host):
    assert host.file(
        "/etc/systemd/system/redis-server.service.d/private-users.conf"
    ).contains("PrivateUsers=false")


def test_missing_password_fails_before_any_change(host):
    # Bad input: the play stops in the preflight, naming the variable, and
    # the host's configuration is untouched.
    before = host.file("/etc/redis/redis.conf").md5sum
    scenario = os.environ["MOLECULE_SCENARIO_DIRECTORY"]
    result = subprocess.run(
        [
            "ansible-playbook",
            "-i", os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"]),
            "-e", "redis_password=''",
            "-e", "redis_maxmemory=1mb",
            os.path.join(scenario, "converge.yml"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "redis_password must be set" in result.stdout + result.stderr
    assert host.file("/etc/redis/redis.conf").md5sum == before
