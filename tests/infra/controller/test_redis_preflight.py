"""Bad cache inputs stop site.yml before any host changes.

Every rule of roles/redis/tasks/preflight.yml fails the cache preflight
play with a message naming the variable. A site below holds one host of
`redis` per broken rule of the same task; see preflight.py.
"""

from preflight import Site, assert_refused


def redis_hosts(**hostvars):
    return Site(groups={"redis": list(hostvars)}, hostvars=hostvars)


PASSWORD = redis_hosts(
    **{
        "short-password": {"redis_password": "short"},
        "spaced-password": {"redis_password": "a password with spaces"},
        # The argument specs turn anything into a string; the preflight does not.
        "listed-password": {"redis_password": ["preflight-redis-password-0123456789"]},
    }
)
SETTINGS = redis_hosts(
    **{
        "port": {"redis_port": 70000},
        "maxmemory": {"redis_maxmemory": "plenty"},
        "app-user": {"redis_app_user": "gate house"},
        "default-user": {"redis_app_user": "default"},
        "save": {"redis_save": ["900 1", "every minute"]},
    }
)
LISTEN_ADDRESS = redis_hosts(**{"by-name": {"redis_bind_address": "cache.example.org"}})


def test_the_password_must_have_at_least_16_characters(preflight):
    assert_refused(
        preflight(PASSWORD),
        "short-password",
        "redis_password must be set",
        assertion="redis_password | length >= 16",
    )


def test_the_password_must_not_hold_whitespace(preflight):
    assert_refused(
        preflight(PASSWORD),
        "spaced-password",
        "redis_password must be set",
        "without whitespace",
        assertion=r"redis_password is not search('\s')",
    )


def test_the_password_must_be_a_string(preflight):
    assert_refused(
        preflight(PASSWORD), "listed-password", "redis_password must be set", assertion="redis_password is string"
    )


def test_the_port_must_be_a_port(preflight):
    assert_refused(
        preflight(SETTINGS),
        "port",
        "redis_port must be 1-65535 (is 70000)",
        assertion="redis_port >= 1 and redis_port <= 65535",
    )


def test_maxmemory_must_be_a_size(preflight):
    assert_refused(
        preflight(SETTINGS),
        "maxmemory",
        "redis_maxmemory a size such as 256mb (is plenty)",
        assertion="redis_maxmemory | string is match('^[0-9]+([kmg]b?)?$', ignorecase=true)",
    )


def test_the_app_user_must_be_a_plain_name(preflight):
    assert_refused(
        preflight(SETTINGS),
        "app-user",
        "redis_app_user a plain name",
        "(is gate house)",
        assertion="redis_app_user is match('^([A-Za-z0-9_.-]+)?$')",
    )


def test_the_app_user_must_not_be_the_default_user(preflight):
    assert_refused(
        preflight(SETTINGS),
        "default-user",
        'redis_app_user a plain name other than "default"',
        assertion="redis_app_user != 'default'",
    )


def test_save_points_must_be_seconds_and_changes(preflight):
    assert_refused(
        preflight(SETTINGS),
        "save",
        'redis_save a list of "SECONDS CHANGES"',
        assertion="redis_save | reject('match', '^[0-9]+ [0-9]+$') | list | length == 0",
    )


def test_the_listen_address_must_be_an_ip_address(preflight):
    assert_refused(preflight(LISTEN_ADDRESS), "by-name", "redis_bind_address: 'cache.example.org' is not an IP address")
