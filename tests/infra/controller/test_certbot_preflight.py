"""Bad ACME inputs stop site.yml before any host changes.

The proxy preflight play runs the certbot role's preflight after nginx's
(roles/certbot/tasks/preflight.yml) when nginx_tls_mode is acme; each
refusal must name the variable and what is wrong. One site holds a proxy per
broken rule (each fails at its first broken check; several proxies also
make HTTP-01 impossible, which the good-but-HTTP-01 proxy shows); a second
site, one proxy with HTTP-01, passes. See preflight.py for how sites run.
"""

import json

import yaml
from preflight import REPO, Site, assert_refused

ACME = {"nginx_tls_mode": "acme", "nginx_server_name": "id.example.org", "certbot_email": "ops@example.org"}
DNS01 = {
    "certbot_challenge": "dns-01",
    "certbot_dns_plugin": "rfc2136",
    "certbot_dns_credentials": {"dns_rfc2136_server": "192.0.2.53", "dns_rfc2136_secret": "c2VjcmV0LXZhbHVlLTEyMzQ="},
}
BROKEN = {
    "no-email": {**ACME, "certbot_email": ""},
    "bad-server": {**ACME, **DNS01, "certbot_acme_server": "http://acme.example.org/directory"},
    "half-eab": {**ACME, **DNS01, "certbot_eab_kid": "kid-1"},
    "missing-bundle": {**ACME, **DNS01, "certbot_ca_bundle": "/nonexistent/acme-ca.pem"},
    "not-a-name": {**ACME, **DNS01, "certbot_extra_domains": ["www.example.org", "bad_name!.example.org"]},
    "an-address": {**ACME, **DNS01, "certbot_extra_domains": ["192.0.2.10"]},
    "wildcard-http": {**ACME, "certbot_extra_domains": ["*.example.org"]},
    "dsa-key": {**ACME, **DNS01, "certbot_key_type": "dsa"},
    "odd-challenge": {**ACME, "certbot_challenge": "tls-alpn-01"},
    "dns-no-credentials": {**ACME, **DNS01, "certbot_dns_credentials": {}},
    "dns-unknown-plugin": {**ACME, **DNS01, "certbot_dns_plugin": "route53"},
    "http-many-proxies": dict(ACME),
    "good-dns": {**ACME, **DNS01, "certbot_extra_domains": ["*.id.example.org"]},
}
BROKEN_SITE = Site(
    groups={"proxies": list(BROKEN), "auth_servers": ["app"], "db_primary": ["app"]},
    hostvars=BROKEN,
)
ONE_PROXY = Site(
    groups={"proxies": ["edge"], "auth_servers": ["app"], "db_primary": ["app"]},
    hostvars={"edge": {**ACME, "certbot_extra_domains": ["auth.example.org"]}},
)


def test_acme_without_an_email_is_refused(preflight):
    assert_refused(preflight(BROKEN_SITE), "no-email", "certbot_email must be the CA account's e-mail address; got ''")


def test_a_plain_http_acme_server_is_refused(preflight):
    assert_refused(preflight(BROKEN_SITE), "bad-server", "certbot_acme_server must be an https:// URL", "http://acme.example.org")


def test_half_an_external_account_binding_is_refused(preflight):
    assert_refused(
        preflight(BROKEN_SITE), "half-eab", "certbot_eab_kid and certbot_eab_hmac_key must be both set", "only certbot_eab_kid is"
    )


def test_a_ca_bundle_missing_on_the_controller_is_refused(preflight):
    assert_refused(preflight(BROKEN_SITE), "missing-bundle", "certbot_ca_bundle must be a PEM file", "'/nonexistent/acme-ca.pem' is not a file")


def test_a_domain_that_is_not_a_dns_name_is_refused(preflight):
    assert_refused(preflight(BROKEN_SITE), "not-a-name", "certbot_extra_domains must be DNS names", "not DNS names here: bad_name!.example.org")


def test_an_ip_address_is_refused_as_a_domain(preflight):
    assert_refused(preflight(BROKEN_SITE), "an-address", "not DNS names here: 192.0.2.10")


def test_a_wildcard_over_http01_is_refused(preflight):
    assert_refused(preflight(BROKEN_SITE), "wildcard-http", "a leading '*.' only with certbot_challenge dns-01", "here: *.example.org")


def test_an_unknown_key_type_is_refused(preflight):
    assert_refused(preflight(BROKEN_SITE), "dsa-key", "certbot_key_type must be one of ecdsa, rsa", "got 'dsa'")


def test_an_unknown_challenge_is_refused(preflight):
    assert_refused(preflight(BROKEN_SITE), "odd-challenge", "certbot_challenge must be one of http-01, dns-01", "tls-alpn-01")


def test_dns01_without_credentials_is_refused(preflight):
    assert_refused(preflight(BROKEN_SITE), "dns-no-credentials", "dns-01 needs certbot_dns_credentials", "it is empty")


def test_dns01_with_a_plugin_that_reads_no_credentials_file_is_refused(preflight):
    assert_refused(preflight(BROKEN_SITE), "dns-unknown-plugin", "dns-01 needs certbot_dns_plugin, one of", "got 'route53'")


def test_http01_with_several_proxies_is_refused_with_the_reason(preflight):
    assert_refused(
        preflight(BROKEN_SITE), "http-many-proxies", "certbot_challenge http-01 works with one proxy",
        "Use certbot_challenge dns-01",
    )


def test_dns_credentials_never_appear_in_the_output(preflight):
    run = preflight(BROKEN_SITE)
    assert "c2VjcmV0LXZhbHVlLTEyMzQ=" not in json.dumps(run.report) + run.stderr


def test_dns01_with_a_wildcard_passes_among_several_proxies(preflight):
    run = preflight(BROKEN_SITE)
    assert not [f for f in run.failures if f.host == "good-dns"], run.summary()


def test_one_proxy_with_http01_passes(preflight):
    run = preflight(ONE_PROXY)
    assert run.returncode == 0 and not run.failures and not run.changed, run.summary()


def test_certbot_links_the_files_nginx_serves_and_fills_its_webroot():
    # The certbot role names nginx's certificate paths and challenge webroot
    # itself (it runs without the nginx role in renew-certificates.yml).
    certbot = yaml.safe_load((REPO / "roles/certbot/vars/main.yml").read_text())
    nginx = yaml.safe_load((REPO / "roles/nginx/vars/main.yml").read_text())
    assert certbot["_certbot_nginx_certificate"] == nginx["_nginx_tls_certificate"]
    assert certbot["_certbot_nginx_certificate_key"] == nginx["_nginx_tls_certificate_key"]
    assert certbot["_certbot_webroot"] == nginx["_nginx_acme_webroot"]
