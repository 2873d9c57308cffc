"""What the certbot role promises, on the hosts of `proxies`.

With nginx_tls_mode acme: nginx serves the certificate of certbot's lineage
(through links, so a renewal needs only a reload), for exactly the issuer's
name and certbot_extra_domains, with the key asked for; renewal is left to
certbot.timer, enabled and scheduled, with a deploy hook that checks and
reloads nginx; secrets are readable by root only. In the other modes the
role leaves nginx's certificate alone: no links into certbot's directory.

Run by molecule/certbot and by the site scenarios: cluster is in acme mode
(Pebble on the monitoring host), appliance in provided mode
(tests/infra/hosts/inventory.py).
"""

import socket
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from inventory import hosts_checked, run_tier, scenario, setting

testinfra_hosts = hosts_checked("proxies")

NGINX_CERT = "/etc/nginx/tls/gatehouse.crt"
NGINX_KEY = "/etc/nginx/tls/gatehouse.key"
DEPLOY_HOOK = "/etc/letsencrypt/renewal-hooks/deploy/50-gatehouse-nginx"


@pytest.fixture(scope="module")
def name(host):
    return host.backend.get_hostname()


@pytest.fixture(scope="module")
def acme(name):
    return setting(name, "nginx", "nginx_tls_mode") == "acme"


@pytest.fixture(scope="module")
def lineage(name):
    return f"/etc/letsencrypt/live/{setting(name, 'certbot', 'certbot_cert_name')}"


@pytest.fixture(scope="module")
def domains(name):
    wanted = [setting(name, "nginx", "nginx_server_name"), *setting(name, "certbot", "certbot_extra_domains")]
    return sorted({d.lower() for d in wanted})


@pytest.fixture(scope="module")
def served(host, name):
    return served_by(host, name)


def served_by(host, name):
    """The certificate nginx presents for the issuer's name on 443."""
    address = host.check_output("hostname -I").split()[0]
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((address, 443), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=setting(name, "nginx", "nginx_server_name")) as tls:
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def need_acme(acme):
    if not acme:
        pytest.skip("nginx_tls_mode is not acme here (the other modes are checked below)")


def test_other_modes_leave_nginx_certificate_alone(host, acme):
    if acme:
        pytest.skip("acme mode: checked by the tests above")
    for path in (NGINX_CERT, NGINX_KEY):
        f = host.file(path)
        assert f.is_file and not f.is_symlink, f"{path} should be the nginx role's own file"


def test_nginx_serves_the_lineage_through_links(host, acme, lineage, served):
    need_acme(acme)
    # One link deep: certbot moves live/'s own links at each renewal.
    assert host.check_output(f"readlink {NGINX_CERT}") == f"{lineage}/fullchain.pem"
    assert host.check_output(f"readlink {NGINX_KEY}") == f"{lineage}/privkey.pem"
    on_disk = x509.load_pem_x509_certificate(host.file(f"{lineage}/cert.pem").content)
    assert served.serial_number == on_disk.serial_number


def test_certificate_covers_exactly_the_names(acme, served, domains):
    need_acme(acme)
    names = served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(n.lower() for n in names.get_values_for_type(x509.DNSName)) == domains


def test_certificate_has_the_key_asked_for_and_a_ca_issuer(name, acme, served):
    need_acme(acme)
    key = served.public_key()
    if setting(name, "certbot", "certbot_key_type") == "ecdsa":
        assert isinstance(key, ec.EllipticCurvePublicKey)
        assert key.curve.name == setting(name, "certbot", "certbot_elliptic_curve")
    else:
        assert isinstance(key, rsa.RSAPublicKey)
        assert key.key_size == int(setting(name, "certbot", "certbot_rsa_key_size"))
    assert served.issuer != served.subject, "a self-signed certificate: the CA was never asked"


def test_renewal_configuration_names_the_server_and_challenge(host, name, acme):
    need_acme(acme)
    conf = host.file(f"/etc/letsencrypt/renewal/{setting(name, 'certbot', 'certbot_cert_name')}.conf").content_string
    assert f"server = {setting(name, 'certbot', 'certbot_acme_server')}" in conf
    challenge = setting(name, "certbot", "certbot_challenge")
    authenticator = "webroot" if challenge == "http-01" else f"dns-{setting(name, 'certbot', 'certbot_dns_plugin')}"
    assert f"authenticator = {authenticator}" in conf


def test_timer_enabled_and_next_run_scheduled(host, acme):
    need_acme(acme)
    timer = host.service("certbot.timer")
    assert timer.is_enabled and timer.is_running
    assert host.run("systemctl show -p NextElapseUSecRealtime --value certbot.timer").stdout.strip() not in ("", "0")
    # The timer's renewals never sleep a random delay of their own on top.
    assert "--no-random-sleep-on-renew" in host.check_output("systemctl show -p ExecStart --value certbot.service")


def test_deploy_hook_checks_then_reloads_nginx_and_nothing_else(host, acme):
    need_acme(acme)
    hook = host.file(DEPLOY_HOOK)
    assert hook.mode == 0o755 and hook.user == "root"
    commands = [
        line.strip() for line in hook.content_string.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    assert commands == ["set -eu", "nginx -t -q", "systemctl reload nginx"]


def test_private_files_are_root_only(host, acme, lineage, name):
    need_acme(acme)
    paths = [host.file(f"{lineage}/privkey.pem").linked_to, "/etc/letsencrypt/gatehouse-account.ini"]
    if setting(name, "certbot", "certbot_challenge") == "dns-01":
        paths.append(f"/etc/letsencrypt/gatehouse-dns-{setting(name, 'certbot', 'certbot_dns_plugin')}.ini")
    for path in paths:
        f = host.file(path)
        assert f.user == "root" and f.mode & 0o077 == 0, f"{path} is {oct(f.mode)} {f.user}"


def test_timer_service_trusts_the_acme_servers_ca(host, name, acme):
    need_acme(acme)
    env = host.check_output("systemctl show -p Environment --value certbot.service")
    if setting(name, "certbot", "certbot_ca_bundle"):
        assert "REQUESTS_CA_BUNDLE=/usr/local/share/gatehouse/acme-ca.pem" in env
        assert host.file("/usr/local/share/gatehouse/acme-ca.pem").is_file
    else:
        assert "REQUESTS_CA_BUNDLE" not in env


def test_switching_away_from_acme_and_back(host, name, acme, lineage):
    # Re-runs the proxy tier twice, so only in the role's own scenario: the
    # site scenarios' other checks rely on the certificate being served.
    if not acme or scenario() != "certbot":
        pytest.skip("runs in molecule/certbot, where nginx_tls_mode is acme")
    issued = x509.load_pem_x509_certificate(host.file(f"{lineage}/cert.pem").content)
    away = run_tier("proxy.yml", name, "-e", "nginx_tls_mode=selfsigned")
    assert away.returncode == 0, away.stdout[-3000:] + away.stderr[-3000:]
    for path in (NGINX_CERT, NGINX_KEY):
        assert not host.file(path).is_symlink, f"{path} still links into certbot's lineage"
    assert served_by(host, name).issuer == served_by(host, name).subject  # nginx's own self-signed one
    back = run_tier("proxy.yml", name)
    assert back.returncode == 0, back.stdout[-3000:] + back.stderr[-3000:]
    assert host.check_output(f"readlink {NGINX_CERT}") == f"{lineage}/fullchain.pem"
    # The lineage still matched the inventory: served again, not issued again.
    assert served_by(host, name).serial_number == issued.serial_number
    assert "changed=0" in run_tier("proxy.yml", name).stdout
