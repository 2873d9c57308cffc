"""Bad proxy inputs stop site.yml before any host changes.

The proxy preflight play (roles/nginx/tasks/preflight.yml on the hosts of
`proxies`) must fail with a message naming the variable; see preflight.py
for how the sites below are run.
"""

from preflight import Site, assert_refused


def proxies(**hostvars):
    return Site(groups={"proxies": list(hostvars)}, hostvars=hostvars)


UNKNOWN_TLS_MODE = proxies(acme={"nginx_tls_mode": "acme"})
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


def test_an_unknown_tls_mode_is_refused(preflight):
    assert_refused(
        preflight(UNKNOWN_TLS_MODE), "acme", "nginx_tls_mode must be one of selfsigned, provided", "got 'acme'"
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
