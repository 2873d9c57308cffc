"""Bad database inputs stop site.yml before any host changes.

The database preflight play (roles/mysql/tasks/preflight.yml on the hosts of
`mysql`) must fail with a message naming the variable or group; see
preflight.py for how the sites below are run.
"""

from preflight import Site, assert_refused


def databases(primaries, replicas, **hostvars):
    return Site(groups={"db_primary": primaries, "db_replicas": replicas}, hostvars=hostvars)


SAME_SERVER_ID = databases(["db-a"], ["db-b"], **{"db-a": {"mysql_server_id": 7}, "db-b": {"mysql_server_id": 7}})
REPLICAS_WITHOUT_PRIMARY = databases([], ["db-b", "db-c"])
NO_REPLICATION_PASSWORD = Site(
    groups={"db_primary": ["db-a"], "db_replicas": ["db-b"]}, vars={"mysql_replication_password": ""}
)


def test_two_hosts_with_the_same_server_id_are_refused(preflight):
    run = preflight(SAME_SERVER_ID)
    assert_refused(run, "db-a", "mysql_server_id 7 is used by db-a, db-b")
    assert_refused(run, "db-b", "mysql_server_id 7 is used by db-a, db-b")


def test_replicas_without_a_primary_are_refused(preflight):
    assert_refused(
        preflight(REPLICAS_WITHOUT_PRIMARY), "db-b", "'db_primary' (mysql_primary_group) must hold exactly one host"
    )


def test_replicas_without_a_replication_password_are_refused(preflight):
    assert_refused(preflight(NO_REPLICATION_PASSWORD), "db-a", "mysql_replication_password is missing")
