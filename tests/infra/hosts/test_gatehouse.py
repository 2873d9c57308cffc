"""What the gatehouse role promises, checked on deployed auth servers.

Run by molecule's testinfra verifier (molecule/gatehouse and the site
scenarios): the auth servers are the hosts of `auth_servers`. Every check runs on the host itself, the way an operator
would look.
"""

import json
import re
import shlex

import pytest
from inventory import connect, hosts_checked, hosts_of, var

AUTH_SERVERS = hosts_checked("auth_servers")

testinfra_hosts = AUTH_SERVERS

MAX_EXPOSURE = 2.5


def env_file(host):
    """The deployed environment as a dict (read as root, never printed)."""
    text = host.check_output("cat /etc/gatehouse/gatehouse.env")
    values = {}
    for line in text.splitlines():
        match = re.match(r'^([A-Z0-9_]+)="(.*)"$', line)
        if match:
            values[match.group(1)] = re.sub(r'\\(["\\$`])', r"\1", match.group(2))
    return values


def base_url(host):
    env = env_file(host)
    return f"http://{env['SERVER_HOST']}:{env['SERVER_PORT']}"


def test_service_user_is_a_system_user_without_a_shell(host):
    user = host.user("gatehouse")
    assert user.exists
    assert user.uid < 1000
    assert user.shell in ("/usr/sbin/nologin", "/sbin/nologin")


@pytest.mark.parametrize(
    "path, owner, group, mode",
    [
        ("/etc/gatehouse", "root", "gatehouse", 0o750),
        ("/etc/gatehouse/gatehouse.env", "root", "gatehouse", 0o640),
        ("/etc/gatehouse/keys", "gatehouse", "gatehouse", 0o750),
        ("/var/lib/gatehouse", "gatehouse", "gatehouse", 0o750),
        ("/var/log/gatehouse", "gatehouse", "gatehouse", 0o750),
        ("/usr/local/bin/gatehouse", "root", "root", 0o755),
    ],
)
def test_paths_have_their_owner_and_mode(host, path, owner, group, mode):
    f = host.file(path)
    assert f.exists
    assert (f.user, f.group, f.mode) == (owner, group, mode)


def test_signing_keys_are_private_to_the_service_user(host):
    files = host.check_output("find /etc/gatehouse/keys -type f -printf '%u:%g:%m %f\\n'").splitlines()
    assert any(line.endswith(".pem") for line in files), files
    for line in files:
        assert line.startswith("gatehouse:gatehouse:600 "), line


def test_nothing_under_etc_gatehouse_is_world_readable(host):
    assert host.check_output("find /etc/gatehouse -perm /o=rwx") == ""


def test_every_auth_server_has_the_same_key_set():
    sums = set()
    for name in AUTH_SERVERS:
        other = connect(name)
        sums.add(other.check_output("cd /etc/gatehouse/keys && sha256sum $(ls) | sha256sum"))
    assert len(sums) == 1


def test_environment_points_at_the_database_and_redis(host):
    env = env_file(host)
    assert env["DATABASE_URL"].startswith("mysql://")
    assert env["REDIS_URL"].startswith("redis://")
    assert env["ISSUER"].startswith("https://")
    assert env["JWT_KEYS_DIR"] == "/etc/gatehouse/keys"
    assert len(env["SESSION_SECRET"]) >= 32


def test_app_is_installed_in_the_venv_without_an_index(host):
    assert host.file("/opt/gatehouse/bin/gunicorn").exists
    out = host.check_output("/opt/gatehouse/bin/pip list --format=json --disable-pip-version-check")
    names = {p["name"].lower() for p in json.loads(out)}
    assert {"gatehouse", "gunicorn", "uvicorn", "pymysql", "redis"} <= names
    assert host.run("/opt/gatehouse/bin/pip check --disable-pip-version-check").rc == 0


def test_server_and_cleanup_timer_are_enabled_and_running(host):
    assert host.service("gatehouse.service").is_enabled
    assert host.service("gatehouse.service").is_running
    assert host.service("gatehouse-cleanup.timer").is_enabled
    assert host.service("gatehouse-cleanup.timer").is_running


def test_server_runs_as_the_service_user(host):
    pid = host.check_output("systemctl show -p MainPID --value gatehouse.service")
    assert host.check_output(f"ps -o user= -p {pid}").strip() == "gatehouse"


def test_listens_on_the_private_address_only(host):
    env = env_file(host)
    address = env["SERVER_HOST"]
    for port in (env["SERVER_PORT"], env["METRICS_PORT"]):
        assert host.socket(f"tcp://{address}:{port}").is_listening
        assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening
        assert not host.socket(f"tcp://127.0.0.1:{port}").is_listening


def test_ready_and_healthy(host):
    url = base_url(host)
    assert host.check_output(f"curl -sf {url}/health/ready") == '{"status":"ready"}'
    health = json.loads(host.check_output(f"curl -sf {url}/health"))
    assert health["status"] == "healthy"
    assert health["dependencies"]["database"]["status"] == "connected"
    assert health["dependencies"]["cache"]["status"] == "connected"


def test_metrics_are_served(host):
    env = env_file(host)
    out = host.check_output(f"curl -sf http://{env['SERVER_HOST']}:{env['METRICS_PORT']}/metrics")
    assert "http_requests_total" in out


def test_units_are_hardened_to_an_exposure_of_at_most_2_5(host):
    for unit in ("gatehouse.service", "gatehouse-cleanup.service"):
        out = host.check_output(f"systemd-analyze security {unit} --no-pager")
        exposure = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", out).group(1))
        assert exposure <= MAX_EXPOSURE, f"{unit}: {exposure}"


def test_cleanup_timer_is_persistent_and_randomized(host):
    out = host.check_output("systemctl show gatehouse-cleanup.timer -p Persistent -p RandomizedDelayUSec")
    assert "Persistent=yes" in out
    assert "RandomizedDelayUSec=0" not in out


def test_cleanup_runs(host):
    host.check_output("systemctl start gatehouse-cleanup.service")
    result = host.run("systemctl show -p Result --value gatehouse-cleanup.service")
    assert result.stdout.strip() == "success"


def test_command_line_wrapper_runs_as_the_service_user_with_the_environment(host):
    assert host.check_output("gatehouse check-config") == "configuration ok"
    assert host.check_output("gatehouse migrate") == "nothing to apply"
    # Nothing it wrote belongs to root.
    assert host.check_output("find /var/lib/gatehouse /var/log/gatehouse /etc/gatehouse/keys -user root") == ""


def test_admin_accounts_exist_once(host):
    again = host.run(
        "gatehouse create-client --client-id gatehouse-admin --name x --confidential "
        "--grant-type client_credentials --scope admin --admin-client"
    )
    assert again.rc != 0 and "already exists" in again.stderr


def test_the_audit_log_records_the_client_behind_the_proxy_not_the_proxy_nor_a_spoofed_hop(host):
    """FORWARDED_ALLOW_IPS is the proxies' addresses: a failed sign-in through nginx from the proxy
    host itself (nginx sees 127.0.0.1) is recorded from 127.0.0.1. Not from the proxy's address
    (every user would share one throttle and lockout), nor from the X-Forwarded-For value the
    client wrote (a client could pick its own)."""
    if not hosts_of("proxies"):
        pytest.skip("no proxy in this scenario")
    proxy_name = hosts_of("proxies")[0]
    proxy = connect(proxy_name)
    server_name = var(proxy_name, "nginx_server_name", "localhost")
    probe = f"xff-probe-{host.backend.get_hostname()}"
    jar = f"/tmp/{probe}.cookies"
    curl = f"curl -sk -b {jar} -c {jar} --resolve {server_name}:443:127.0.0.1 -H 'X-Forwarded-For: 203.0.113.9'"
    page = proxy.check_output(f"{curl} https://{server_name}/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    proxy.check_output(
        f"{curl} -o /dev/null -w '%{{http_code}}' https://{server_name}/login"
        f" --data-urlencode username={probe} --data-urlencode password=wrong-password"
        f" --data-urlencode csrf_token={csrf} --data-urlencode return_to=/"
    )
    proxy.run(f"rm -f {jar}")
    name = host.backend.get_hostname()
    admin = shlex.quote(var(name, "gatehouse_admin_username", "admin"))
    password = shlex.quote(var(name, "gatehouse_admin_password"))  # the scenario's throwaway value
    token = host.run(f"printf '%s\\n' {password} | gatehouse admin-token --username {admin} --password-stdin --ttl 60")
    assert token.rc == 0, token.stderr
    events = json.loads(
        host.check_output(
            f"curl -s -H 'Authorization: Bearer {token.stdout.strip()}'"
            f" '{base_url(host)}/api/v2/admin/audit-logs?event=login.failed&limit=50'"
        )
    )["items"]
    ips = [e["ip"] for e in events if e["actor"] == probe or e["subject"] == probe or probe in json.dumps(e)]
    assert ips and set(ips) == {"127.0.0.1"}, events[:3]
