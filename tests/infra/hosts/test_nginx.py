"""What the nginx role promises, on the hosts of `proxies`: TLS in front of
every auth server, redirects, headers, limits.

Run by molecule/nginx (in front of a stand-in upstream that answers
/health/live like the app, and an auth server that is down) and by the site
scenarios (in front of Gatehouse itself); see tests/infra/hosts/inventory.py.
"""

import datetime
import http.client
import os
import re
import ssl
import tempfile

import pytest
from inventory import hosts_checked, hosts_of, run_tier, setting

testinfra_hosts = hosts_checked("proxies")

# Answered by Gatehouse and by molecule/nginx's stand-in alike, with the
# app's own security headers.
UPSTREAM_PATH = "/health/live"


@pytest.fixture(scope="module")
def name(host):
    return host.backend.get_hostname()


@pytest.fixture(scope="module")
def ip(host):
    return host.check_output("hostname -I").split()[0]


@pytest.fixture(scope="module")
def server_name(name):
    return setting(name, "nginx", "nginx_server_name")


@pytest.fixture(scope="module")
def https(ip, server_name):
    def request(path="/", method="GET", body=None, max_version=None, min_version=None):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if max_version:
            ctx.maximum_version = max_version
        if min_version:
            ctx.minimum_version = min_version
        conn = http.client.HTTPSConnection(ip, 443, context=ctx, timeout=5)
        conn.request(method, path, body=body, headers={"Host": server_name})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp, data

    return request


def test_service_enabled_and_running(host):
    assert host.service("nginx").is_enabled
    assert host.service("nginx").is_running


def test_config_valid(host):
    assert host.run("nginx -t").rc == 0


def test_http_redirects_to_https(ip, name, server_name):
    port = int(setting(name, "nginx", "nginx_https_public_port"))
    conn = http.client.HTTPConnection(ip, 80, timeout=5)
    conn.request("GET", "/api/v2/oauth/authorize?x=1", headers={"Host": server_name})
    resp = conn.getresponse()
    assert resp.status == 301
    authority = server_name if port == 443 else f"{server_name}:{port}"
    assert resp.getheader("Location") == f"https://{authority}/api/v2/oauth/authorize?x=1"


def test_proxies_to_the_upstream_retrying_past_a_dead_server(https):
    # In molecule/nginx an auth server with nothing listening is in the
    # upstream; in the cluster every one is up (its drill stops one): every
    # request succeeds either way, retried on a live server.
    for _ in range(10):
        resp, data = https(UPSTREAM_PATH)
        assert resp.status == 200, data


def test_upstream_lists_every_auth_server(host):
    conf = host.file("/etc/nginx/nginx.conf").content_string
    for auth_server in hosts_of("auth_servers"):
        assert re.search(rf"^\s*server \S+:\d+ max_fails=\d+ fail_timeout=\w+;  # {re.escape(auth_server)}$", conf, re.M), auth_server
    assert "proxy_next_upstream error timeout http_502 http_503 http_504;" in conf
    assert "non_idempotent" not in conf.split("proxy_next_upstream ")[1].split(";")[0]


def hsts(name):
    value = f"max-age={setting(name, 'nginx', 'nginx_hsts_max_age')}"
    return value + ("; includeSubDomains" if setting(name, "nginx", "nginx_hsts_include_subdomains") else "")


def test_own_answers_carry_the_security_headers(https, name):
    # A 413 is nginx's own answer: no upstream header to defer to.
    resp, _ = https("/", method="POST", body=b"x" * (body_limit(name) + 1024 * 1024))
    assert resp.status == 413
    assert resp.getheader("Strict-Transport-Security") == hsts(name)
    assert resp.getheader("X-Content-Type-Options") == "nosniff"
    assert resp.getheader("X-Frame-Options") == "DENY"
    assert resp.getheader("Referrer-Policy") == "no-referrer"
    assert resp.getheader("Content-Security-Policy") == setting(name, "nginx", "nginx_content_security_policy")
    assert resp.getheader("Server") == "nginx"  # no version


def test_app_headers_win_and_are_not_duplicated(https, name):
    # The app sends its own policy (the stand-in copies it): nginx must not
    # add a second one, and adds HSTS exactly once.
    resp, _ = https(UPSTREAM_PATH)
    assert resp.headers.get_all("X-Frame-Options") == ["DENY"]
    csp = resp.headers.get_all("Content-Security-Policy")
    assert len(csp) == 1 and csp[0].startswith("default-src 'none'"), csp
    assert resp.headers.get_all("X-Content-Type-Options") == ["nosniff"]
    assert resp.headers.get_all("Strict-Transport-Security") == [hsts(name)]
    assert resp.getheader("Server") == "nginx"


def test_tls_12_and_13_only(https):
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        resp, _ = https(UPSTREAM_PATH, min_version=version, max_version=version)
        assert resp.status == 200
    with pytest.raises(ssl.SSLError):
        https("/", min_version=ssl.TLSVersion.TLSv1, max_version=ssl.TLSVersion.TLSv1_1)


def body_limit(name):
    size = str(setting(name, "nginx", "nginx_client_max_body_size")).lower()
    number, unit = re.fullmatch(r"(\d+)([kmg]?)", size).groups()
    return int(number) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit]


def test_request_size_limit(https, name):
    limit = body_limit(name)
    resp, _ = https("/", method="POST", body=b"x" * (limit + 1024 * 1024))
    assert resp.status == 413


def test_login_rate_limit(https, name):
    burst = int(setting(name, "nginx", "nginx_rate_limit_login_burst"))
    statuses = [https("/login")[0].status for _ in range(burst + 15)]
    assert 429 in statuses
    assert statuses[0] != 429


def test_stub_status_on_loopback_only(host, ip, name):
    port = setting(name, "nginx", "nginx_status_port")
    out = host.check_output(f"curl -s http://127.0.0.1:{port}/stub_status")
    assert "Active connections" in out
    assert not host.socket(f"tcp://{ip}:{port}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening


def test_certificate_key_is_private(host):
    key = host.file("/etc/nginx/tls/gatehouse.key")
    assert key.mode == 0o600
    assert key.user == "root"


def test_provided_certificate_is_the_one_served(ip, name):
    if setting(name, "nginx", "nginx_tls_mode") != "provided":
        pytest.skip("nginx_tls_mode is not provided here")
    from cryptography import x509

    with open(setting(name, "nginx", "nginx_tls_certificate"), "rb") as f:
        provided = x509.load_pem_x509_certificates(f.read())[0]
    served = x509.load_pem_x509_certificate(ssl.get_server_certificate((ip, 443)).encode())
    assert served == provided


def test_selfsigned_certificate_covers_the_names(host, name, server_name):
    if setting(name, "nginx", "nginx_tls_mode") != "selfsigned":
        pytest.skip("nginx_tls_mode is not selfsigned here")
    cert = host.ansible(
        "community.crypto.x509_certificate_info", "path=/etc/nginx/tls/gatehouse.crt", check=False
    )
    aliases = setting(name, "nginx", "nginx_server_aliases")
    assert set(cert["subject_alt_name"]) >= {f"DNS:{n}" for n in [server_name, *aliases]}


def test_unknown_tls_mode_fails_before_any_change(host, name):
    before = host.file("/etc/nginx/nginx.conf").md5sum
    result = run_tier("proxy.yml", name, "-e", "nginx_tls_mode=bogus", "-e", "nginx_client_max_body_size=9m")
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "nginx_tls_mode must be one of" in out
    assert host.file("/etc/nginx/nginx.conf").md5sum == before


def test_switching_to_a_provided_certificate(host, ip, name, server_name):
    # The lab's path: a CA on the controller signs the certificate. This
    # re-runs the proxy tier with another certificate, so it runs where the
    # proxy serves a self-signed one (molecule/nginx), not on a site whose
    # certificate the other checks rely on.
    if setting(name, "nginx", "nginx_tls_mode") != "selfsigned":
        pytest.skip("changes the served certificate; runs where nginx_tls_mode is selfsigned")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "molecule test CA")])
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, server_name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(server_name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    with tempfile.TemporaryDirectory() as tmp:
        cert_path, key_path = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
        with open(cert_path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(key_path, "wb") as f:
            f.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        args = (
            "-e", "nginx_tls_mode=provided",
            "-e", f"nginx_tls_certificate={cert_path}",
            "-e", f"nginx_tls_certificate_key={key_path}",
        )
        first = run_tier("proxy.yml", name, *args)
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        again = run_tier("proxy.yml", name, *args)
        assert again.returncode == 0
        assert "changed=0" in again.stdout

    served = ssl.get_server_certificate((ip, 443))
    served_cert = x509.load_pem_x509_certificate(served.encode())
    assert served_cert.issuer == ca_name
    assert host.file("/etc/nginx/tls/gatehouse.key").mode == 0o600
