"""Bad proxy inputs stop site.yml before any host changes.

The proxy preflight play (roles/nginx/tasks/preflight.yml on the hosts of
`proxies`) must fail with a message naming the variable; see preflight.py
for how the sites below are run.
"""

from preflight import Site, assert_refused


def proxies(**hostvars):
    return Site(groups={"proxies": list(hostvars)}, hostvars=hostvars)


UNKNOWN_TLS_MODE = proxies(letsencrypt={"nginx_tls_mode": "letsencrypt"})
PROVIDED_WITHOUT_FILES = proxies(
    **{
        "no-paths": {"nginx_tls_mode": "provided"},
        "missing-files": {
            "nginx_tls_mode": "provided",
            "nginx_tls_certificate": "/nonexistent/gatehouse.crt",
            "nginx_tls_certificate_key": "/nonexistent/gatehouse.key",
        },
    }
)
# The upstream has one port; an auth server listening on another would be
# unreachable through nginx (502).
AUTH_SERVERS_ON_TWO_PORTS = Site(
    groups={"proxies": ["edge"], "auth_servers": ["app1", "app2"], "db_primary": ["app1"]},
    hostvars={"app2": {"gatehouse_port": 3102}},
)
UPSTREAM_PORT_NOT_THE_APPS = Site(
    groups={"proxies": ["edge"], "auth_servers": ["app1"], "db_primary": ["app1"]},
    hostvars={"edge": {"nginx_upstream_port": 3001}, "app1": {"gatehouse_port": 3101}},
)


def test_an_unknown_tls_mode_is_refused(preflight):
    assert_refused(
        preflight(UNKNOWN_TLS_MODE), "letsencrypt", "nginx_tls_mode must be one of selfsigned, provided, acme",
        "got 'letsencrypt'",
    )


def test_provided_tls_without_certificate_paths_is_refused(preflight):
    assert_refused(
        preflight(PROVIDED_WITHOUT_FILES),
        "no-paths",
        "nginx_tls_mode 'provided' needs nginx_tls_certificate and nginx_tls_certificate_key",
        assertion="nginx_tls_certificate | length > 0",
    )


def test_provided_tls_with_missing_files_is_refused(preflight):
    assert_refused(
        preflight(PROVIDED_WITHOUT_FILES),
        "missing-files",
        "nginx_tls_mode 'provided' needs nginx_tls_certificate and nginx_tls_certificate_key",
        assertion="nginx_tls_certificate is file",
    )


def test_auth_servers_on_different_ports_are_refused(preflight):
    assert_refused(
        preflight(AUTH_SERVERS_ON_TWO_PORTS),
        "edge",
        "nginx_upstream_port is 3001, but the auth servers listen on app1:3001, app2:3102",
        "same gatehouse_port",
    )


def test_an_upstream_port_the_app_does_not_listen_on_is_refused(preflight):
    assert_refused(
        preflight(UPSTREAM_PORT_NOT_THE_APPS),
        "edge",
        "nginx_upstream_port is 3001, but the auth servers listen on app1:3101",
        "leave nginx_upstream_port unset",
    )
