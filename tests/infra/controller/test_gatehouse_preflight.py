"""Bad auth-server inputs stop site.yml before any host changes.

The auth server preflight play (roles/gatehouse/tasks/preflight.yml on the
hosts of `auth_servers`) must fail with a message naming the variable; see
preflight.py for how the sites below are run.
"""

from preflight import Site, assert_refused, wheelhouse_for


def auth_servers(**hostvars):
    """Auth servers; the first is the database primary too (there must be one)."""
    return Site(groups={"auth_servers": list(hostvars), "db_primary": list(hostvars)[:1]}, hostvars=hostvars)


ISSUER = auth_servers(
    **{
        "http-issuer": {"gatehouse_issuer": "http://id.example.org"},
        "slash-issuer": {"gatehouse_issuer": "https://id.example.org/"},
    }
)
# One item of the secrets loop per secret: both are reported.
WEAK_SECRETS = auth_servers(
    **{
        "weak-secrets": {"gatehouse_session_secret": "short", "gatehouse_admin_password": "short"},
        "name-in-password": {"gatehouse_admin_username": "Operator", "gatehouse_admin_password": "my-operator-pw-2026"},
    }
)
# Who the app believes about a client's address, and how long locks last.
# (Two runs: the preflight stops every host at the first failure, any_errors_fatal.)
TRUST_EVERYONE = auth_servers(**{"trust-everyone": {"gatehouse_forwarded_allow_ips": ["*"]}})
LOCK_SHRINKS = auth_servers(
    **{"lock-shrinks": {"gatehouse_login_lockout_seconds": 900, "gatehouse_login_lockout_max_seconds": 60}}
)
NO_WHEELHOUSE = auth_servers(**{"no-wheelhouse": {"gatehouse_wheelhouse_dir": "{{ inventory_dir }}/none"}})
# The role has no wheelhouse of its own to fall back on: the inventory says where it is.
WHEELHOUSE_NOT_SET = auth_servers(**{"wheelhouse-not-set": {"gatehouse_wheelhouse_dir": ""}})
WHEELHOUSE_FOR_ANOTHER_PYTHON = auth_servers(
    **{"other-python": {"gatehouse_wheelhouse_dir": "{{ inventory_dir }}/other"}}
)
WHEELHOUSE_FOR_ANOTHER_PYTHON.files = wheelhouse_for("3.9.2")


def test_the_issuer_must_be_https(preflight):
    assert_refused(
        preflight(ISSUER),
        "http-issuer",
        "gatehouse_issuer must be the public https URL",
        assertion="gatehouse_issuer is match('^https://') or (gatehouse_issuer | urlsplit('hostname'))"
        " in ['localhost', '127.0.0.1', '::1']",
    )


def test_the_issuer_must_not_end_with_a_slash(preflight):
    assert_refused(
        preflight(ISSUER),
        "slash-issuer",
        "gatehouse_issuer must be",
        "without a trailing slash",
        assertion="not gatehouse_issuer.endswith('/')",
    )


def test_a_short_session_secret_is_refused(preflight):
    assert_refused(preflight(WEAK_SECRETS), "weak-secrets", "gatehouse_session_secret must have at least 32 characters")


def test_a_short_admin_password_is_refused(preflight):
    assert_refused(preflight(WEAK_SECRETS), "weak-secrets", "gatehouse_admin_password must have at least 12 characters")


def test_a_missing_wheelhouse_fails_saying_how_to_build_it(preflight):
    assert_refused(preflight(NO_WHEELHOUSE), "no-wheelhouse", "gatehouse_wheelhouse_dir", "make wheelhouse")


def test_the_wheelhouse_directory_must_be_set(preflight):
    assert_refused(
        preflight(WHEELHOUSE_NOT_SET),
        "wheelhouse-not-set",
        "gatehouse_wheelhouse_dir is not set",
        "make wheelhouse",
        assertion="gatehouse_wheelhouse_dir | length > 0",
    )


def test_a_wheelhouse_for_another_python_is_refused(preflight):
    assert_refused(preflight(WHEELHOUSE_FOR_ANOTHER_PYTHON), "other-python", "is for CPython 3.9.2", "gatehouse_python")


def test_trusting_every_peer_to_name_the_client_address_is_refused(preflight):
    assert_refused(preflight(TRUST_EVERYONE), "trust-everyone", "gatehouse_forwarded_allow_ips", '["*"]')


def test_a_longest_lock_shorter_than_the_first_is_refused(preflight):
    assert_refused(
        preflight(LOCK_SHRINKS),
        "lock-shrinks",
        "gatehouse_login_lockout_max_seconds (60) at least",
        assertion="gatehouse_login_lockout_max_seconds | int >= gatehouse_login_lockout_seconds | int",
    )


def test_an_admin_password_holding_the_admin_username_is_refused(preflight):
    assert_refused(
        preflight(WEAK_SECRETS),
        "name-in-password",
        "gatehouse_admin_password must not contain gatehouse_admin_username",
    )
