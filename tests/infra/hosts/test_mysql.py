"""What the mysql role promises, checked on deployed database hosts.

Run by molecule's testinfra verifier (molecule/mysql and the site
scenarios): the database hosts are those of `db_primary` and `db_replicas`. Every query runs through the SQL client
on the hosts, as root over the socket or as the app user over TCP.
"""

import re
import time
import uuid

import pytest
from inventory import connect, hosts_checked, hosts_of, var

PRIMARIES = hosts_checked("db_primary")
REPLICAS = hosts_of("db_replicas")
APP_CLIENTS = hosts_of("auth_servers")
DB_HOSTS = sorted(set(PRIMARIES + REPLICAS))

CONFIG_PATHS = (
    "/etc/mysql/mariadb.conf.d/60-gatehouse.cnf",
    "/etc/mysql/mysql.conf.d/60-gatehouse.cnf",
    "/etc/my.cnf.d/60-gatehouse.cnf",
)
APP_PRIVILEGES = {
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "CREATE",
    "ALTER",
    "INDEX",
    "DROP",
    "REFERENCES",
    "LOCK TABLES",
}


def sql(host, query):
    """Rows of a query run as root over the socket."""
    out = host.check_output("mysql -N -B -e %s", query)
    return [line.split("\t") for line in out.splitlines()]


def value(host, query):
    return sql(host, query)[0][0]


# An auth server without a SQL client (the cluster's) runs the query with the
# app's own driver from the app's venv: the same client the app uses.
APP_PYTHON = "/opt/gatehouse/bin/python"
DRIVER_QUERY = """
import os, sys
import pymysql
from pymysql.constants import CLIENT
address, user, query = sys.argv[1:4]
try:
    conn = pymysql.connect(host=address, user=user, password=os.environ["MYSQL_PWD"],
                           connect_timeout=5, client_flag=CLIENT.MULTI_STATEMENTS, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(query)
        while True:
            for row in cur.fetchall() or ():
                print("\\t".join(str(v) for v in row))
            if not cur.nextset():
                break
except pymysql.Error as e:
    sys.exit(f"ERROR {e.args[0]}: {e.args[-1]}")
"""


def as_user(host, user, password, address, query):
    """Run a query as `user` over TCP; the CommandResult (may fail)."""
    if not host.exists("mysql") and host.file(APP_PYTHON).exists:
        return host.run(
            "MYSQL_PWD=%s %s -c %s %s %s %s",
            password,
            APP_PYTHON,
            DRIVER_QUERY,
            address,
            user,
            query,
        )
    return host.run(
        "MYSQL_PWD=%s mysql -N -B --connect-timeout=5 -h %s -u %s -e %s",
        password,
        address,
        user,
        query,
    )


def address(host):
    return value(host, "SELECT @@GLOBAL.bind_address")


def source_address(host, destination):
    """The address `host` sends from to reach `destination` (what grants see)."""
    out = host.check_output("ip -4 -o route get %s", destination)
    return re.search(r"\bsrc (\S+)", out).group(1)


def is_mariadb(host):
    return "mariadb" in value(host, "SELECT VERSION()").lower()


def replica_status(host):
    out = host.check_output("mysql -E -e 'SHOW REPLICA STATUS'")
    return dict(re.findall(r"^\s*(\w+): ?(.*)$", out, re.M))


def wait_for(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(1)


@pytest.fixture(scope="module")
def primary():
    assert len(PRIMARIES) == 1, f"db_primary holds {PRIMARIES}"
    return connect(PRIMARIES[0])


@pytest.fixture(scope="module")
def app_password():
    return var(PRIMARIES[0], "mysql_app_password")


@pytest.fixture(scope="module")
def app_user():
    return var(PRIMARIES[0], "mysql_app_user", "gatehouse")


@pytest.fixture(scope="module")
def app_db():
    return var(PRIMARIES[0], "mysql_app_database", "gatehouse")


@pytest.fixture(scope="module")
def replication_user():
    return var(PRIMARIES[0], "mysql_replication_user", "replicator")


@pytest.fixture(scope="module")
def app_client():
    """An auth server, from whose address the grants let the app user in:
    one with a SQL client (a DB host too) if there is one, else one with the
    app's venv (as_user then uses the app's driver)."""
    with_client = [h for h in APP_CLIENTS if h in DB_HOSTS]
    for name in with_client + [h for h in APP_CLIENTS if h not in with_client]:
        host = connect(name)
        if host.exists("mysql") or host.file(APP_PYTHON).exists:
            return host
    pytest.skip("no host in auth_servers has a SQL client or the app's venv")


# --- every database host ---------------------------------------------------


@pytest.mark.parametrize("name", DB_HOSTS)
def test_server_is_running_and_enabled(name):
    host = connect(name)
    name = {"debian": "mariadb", "ubuntu": "mysql"}.get(host.system_info.distribution, "mysqld")
    service = host.service(name)
    assert service.is_running
    assert service.is_enabled


@pytest.mark.parametrize("name", DB_HOSTS)
def test_listens_on_the_private_address_only(name):
    host = connect(name)
    bind = address(host)
    assert bind not in ("0.0.0.0", "::", "*", "127.0.0.1", "")
    assert host.socket(f"tcp://{bind}:3306").is_listening
    assert not host.socket("tcp://0.0.0.0:3306").is_listening
    assert not host.socket("tcp://127.0.0.1:3306").is_listening


@pytest.mark.parametrize("name", DB_HOSTS)
def test_binary_log_is_row_based_with_gtids(name):
    host = connect(name)
    assert value(host, "SELECT @@GLOBAL.log_bin") == "1"
    assert value(host, "SELECT @@GLOBAL.binlog_format") == "ROW"
    if is_mariadb(host):
        assert value(host, "SELECT @@GLOBAL.gtid_strict_mode") == "1"
    else:
        assert value(host, "SELECT @@GLOBAL.gtid_mode") == "ON"


@pytest.mark.parametrize("name", DB_HOSTS)
def test_no_anonymous_users_and_no_test_database(name):
    host = connect(name)
    assert value(host, "SELECT COUNT(*) FROM mysql.user WHERE User = ''") == "0"
    assert "test" not in [row[0] for row in sql(host, "SHOW DATABASES")]


@pytest.mark.parametrize("name", DB_HOSTS)
def test_root_exists_on_localhost_only_with_socket_auth(name):
    host = connect(name)
    assert sql(host, "SELECT Host FROM mysql.user WHERE User = 'root'") == [["localhost"]]
    grants = " ".join(row[0] for row in sql(host, "SHOW GRANTS FOR 'root'@'localhost'"))
    assert re.search(r"unix_socket|auth_socket", grants)


@pytest.mark.parametrize("name", DB_HOSTS)
def test_configuration_holds_no_secret_and_state_is_private(name):
    host = connect(name)
    configs = [host.file(p) for p in CONFIG_PATHS if host.file(p).exists]
    assert len(configs) == 1
    assert "password" not in configs[0].content_string.lower()
    assert configs[0].user == "root"
    state = host.file("/var/lib/gatehouse-mysql")
    assert state.is_directory and state.mode == 0o700 and state.user == "root"


# --- the primary -------------------------------------------------------------


def test_server_ids_are_unique():
    ids = {name: value(connect(name), "SELECT @@GLOBAL.server_id") for name in DB_HOSTS}
    assert len(set(ids.values())) == len(ids), ids


def test_primary_is_writable(primary):
    assert value(primary, "SELECT @@GLOBAL.read_only") == "0"


def test_app_user_is_least_privilege_and_host_restricted(primary, app_user, app_db):
    hosts = sorted(row[0] for row in sql(primary, f"SELECT Host FROM mysql.user WHERE User = '{app_user}'"))
    expected = sorted({"localhost", *(source_address(connect(h), address(primary)) for h in APP_CLIENTS)})
    assert set(expected) <= set(hosts)
    assert "%" not in hosts
    for h in hosts:
        grants = [row[0] for row in sql(primary, f"SHOW GRANTS FOR '{app_user}'@'{h}'")]
        on_db = [g for g in grants if f"ON `{app_db}`.*" in g]
        assert len(on_db) == 1, grants
        privileges = re.match(r"GRANT (.+) ON ", on_db[0]).group(1)
        assert {p.strip() for p in privileges.split(",")} == APP_PRIVILEGES
        # Nothing beyond USAGE anywhere else.
        others = [g for g in grants if g not in on_db]
        assert all(g.startswith("GRANT USAGE ON *.*") for g in others), grants


def test_replication_user_may_connect_from_replicas_only(primary, replication_user):
    user = replication_user
    hosts = sorted(row[0] for row in sql(primary, f"SELECT Host FROM mysql.user WHERE User = '{user}'"))
    assert hosts == sorted(address(connect(h)) for h in REPLICAS)
    for h in hosts:
        grants = [row[0] for row in sql(primary, f"SHOW GRANTS FOR '{user}'@'{h}'")]
        assert len(grants) == 1 and re.match(r"GRANT REPLICATION (SLAVE|REPLICA) ON \*\.\* TO", grants[0]), grants


@pytest.mark.skipif(not REPLICAS, reason="no replicas")
def test_replication_user_is_refused_from_the_primary_address(primary, replication_user):
    user = replication_user
    password = var(PRIMARIES[0], "mysql_replication_password")
    result = as_user(primary, user, password, address(primary), "SELECT 1")
    assert result.rc != 0
    assert "not allowed to connect" in result.stderr or "Access denied" in result.stderr


@pytest.mark.skipif(not REPLICAS, reason="no replicas")
def test_root_cannot_connect_over_the_network(primary):
    replica = connect(REPLICAS[0])
    result = replica.run("mysql --connect-timeout=5 -h %s -u root -e 'SELECT 1'", address(primary))
    assert result.rc != 0
    assert "not allowed to connect" in result.stderr or "Access denied" in result.stderr


# --- the replicas ------------------------------------------------------------


@pytest.mark.parametrize("name", REPLICAS)
def test_replica_is_read_only(name):
    replica = connect(name)
    assert value(replica, "SELECT @@GLOBAL.read_only") == "1"
    if not is_mariadb(replica):
        assert value(replica, "SELECT @@GLOBAL.super_read_only") == "1"


@pytest.mark.parametrize("name", REPLICAS)
def test_replica_runs_both_threads_with_gtid(name, primary):
    replica = connect(name)
    status = replica_status(replica)
    io = status.get("Slave_IO_Running", status.get("Replica_IO_Running"))
    sql_thread = status.get("Slave_SQL_Running", status.get("Replica_SQL_Running"))
    assert (io, sql_thread) == ("Yes", "Yes"), status
    assert status.get("Master_Host", status.get("Source_Host")) == address(primary)
    if is_mariadb(replica):
        assert status["Using_Gtid"] == "Slave_Pos"
    else:
        assert status["Auto_Position"] == "1"


@pytest.mark.parametrize("name", REPLICAS)
def test_replica_files_holding_the_password_are_not_world_readable(name):
    replica = connect(name)
    datadir = value(replica, "SELECT @@GLOBAL.datadir").rstrip("/")
    for path in (f"{datadir}/master.info", "/var/lib/gatehouse-mysql/replication-source.sha256"):
        f = replica.file(path)
        if f.exists:
            assert f.mode & 0o007 == 0, f"{path} is mode {oct(f.mode)}"


@pytest.mark.parametrize("name", REPLICAS)
def test_row_written_on_the_primary_appears_on_the_replica(name, primary, app_client, app_user, app_password, app_db):
    replica = connect(name)
    token = uuid.uuid4().hex
    write = as_user(
        app_client,
        app_user,
        app_password,
        address(primary),
        f"CREATE TABLE IF NOT EXISTS {app_db}.replication_probe "
        f"(token CHAR(32) PRIMARY KEY, at TIMESTAMP DEFAULT CURRENT_TIMESTAMP); "
        f"INSERT INTO {app_db}.replication_probe (token) VALUES ('{token}')",
    )
    assert write.rc == 0, write.stderr
    query = f"SELECT COUNT(*) FROM {app_db}.replication_probe WHERE token = '{token}'"
    assert wait_for(lambda: replica.run("mysql -N -B -e %s", query).stdout.strip() == "1"), (
        f"row {token} did not reach {name}"
    )


@pytest.mark.parametrize("name", REPLICAS)
def test_replica_refuses_writes_by_the_app_user(name, primary, app_client, app_user, app_password, app_db):
    replica = connect(name)
    # The app user can log in to the replica and read ...
    read = as_user(
        app_client, app_user, app_password, address(replica), f"SELECT COUNT(*) FROM {app_db}.replication_probe"
    )
    assert read.rc == 0, read.stderr
    # ... but not write.
    result = as_user(
        app_client,
        app_user,
        app_password,
        address(replica),
        f"INSERT INTO {app_db}.replication_probe (token) VALUES ('{uuid.uuid4().hex}')",
    )
    assert result.rc != 0
    assert "read-only" in result.stderr or "read_only" in result.stderr, result.stderr
    status = replica_status(replica)
    assert status.get("Slave_SQL_Running", status.get("Replica_SQL_Running")) == "Yes"
