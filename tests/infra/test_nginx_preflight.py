"""Bad proxy inputs stop site.yml before any host changes.

The proxy preflight play (roles/nginx/tasks/preflight.yml on the hosts of
`proxies`) must fail with a message naming the variable; see preflight.py
for how the sites below are run.
"""

from preflight import Site, assert_refused


def proxies(**hostvars):
    return Site(groups={"proxies": list(hostvars)}, hostvars=hostvars)


WRONG_TYPES = proxies(
    **{
        "wrong-types": {
            "nginx_status_port": "stub",
            "nginx_hsts_include_subdomains": "perhaps",
            "nginx_real_ip_from": {"10.0.0.0/8": True},
        }
    }
)
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


def test_a_text_where_an_int_is_specified_is_refused(preflight):
    assert_refused(preflight(WRONG_TYPES), "wrong-types", "'nginx_status_port' is of type str", "to int")


def test_a_text_where_a_bool_is_specified_is_refused(preflight):
    assert_refused(preflight(WRONG_TYPES), "wrong-types", "'nginx_hsts_include_subdomains' is of type str", "to bool")


def test_a_mapping_where_a_list_is_specified_is_refused(preflight):
    assert_refused(preflight(WRONG_TYPES), "wrong-types", "'nginx_real_ip_from' is of type dict", "to list")


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
