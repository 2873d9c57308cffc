"""The nginx role in front of a stand-in upstream."""

import datetime
import http.client
import os
import ssl
import subprocess
import tempfile

import pytest

# auth-down is an inventory entry with no machine behind it.
testinfra_hosts = ["ansible://molecule-nginx"]


@pytest.fixture(scope="module")
def ip(host):
    return host.check_output("hostname -I").split()[0]


def https(ip, path="/", method="GET", body=None, max_version=None, min_version=None):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if max_version:
        ctx.maximum_version = max_version
    if min_version:
        ctx.minimum_version = min_version
    conn = http.client.HTTPSConnection(ip, 443, context=ctx, timeout=5)
    conn.request(method, path, body=body, headers={"Host": "gatehouse.test"})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


def test_service_enabled_and_running(host):
    assert host.service("nginx").is_enabled
    assert host.service("nginx").is_running


def test_config_valid(host):
    assert host.run("nginx -t").rc == 0


def test_http_redirects_to_https(ip):
    conn = http.client.HTTPConnection(ip, 80, timeout=5)
    conn.request("GET", "/api/v2/oauth/authorize?x=1", headers={"Host": "gatehouse.test"})
    resp = conn.getresponse()
    assert resp.status == 301
    assert resp.getheader("Location") == "https://gatehouse.test/api/v2/oauth/authorize?x=1"


def test_proxies_to_the_upstream_retrying_past_a_dead_server(ip):
    # auth-down (nothing listening) is in the upstream: every request still
    # succeeds, retried on the live server.
    for _ in range(10):
        resp, data = https(ip, "/hello.txt")
        assert resp.status == 200
        assert data == b"hello from the upstream\n"


def test_upstream_lists_every_auth_server(host):
    conf = host.file("/etc/nginx/nginx.conf").content_string
    assert "server 127.0.0.1:3001 max_fails=3 fail_timeout=10s;  # auth-down" in conf
    assert "proxy_next_upstream error timeout http_502 http_503 http_504;" in conf
    assert "non_idempotent" not in conf.split("proxy_next_upstream ")[1].split(";")[0]


def test_security_headers(ip):
    resp, _ = https(ip, "/hello.txt")
    assert resp.getheader("Strict-Transport-Security") == "max-age=31536000"
    assert resp.getheader("X-Content-Type-Options") == "nosniff"
    assert resp.getheader("X-Frame-Options") == "DENY"
    assert resp.getheader("Referrer-Policy") == "no-referrer"
    assert resp.getheader("Content-Security-Policy") == "frame-ancestors 'none'"
    assert resp.getheader("Server") == "nginx"  # no version


def test_app_headers_win_and_are_not_duplicated(ip):
    resp, _ = https(ip, "/framed")
    assert resp.headers.get_all("X-Frame-Options") == ["SAMEORIGIN"]
    assert resp.headers.get_all("Content-Security-Policy") == ["default-src 'self'"]
    assert resp.headers.get_all("X-Content-Type-Options") == ["nosniff"]
    assert len(resp.headers.get_all("Strict-Transport-Security")) == 1


def test_tls_12_and_13_only(ip):
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        resp, _ = https(ip, "/hello.txt", min_version=version, max_version=version)
        assert resp.status == 200
    with pytest.raises(ssl.SSLError):
        https(ip, "/", min_version=ssl.TLSVersion.TLSv1, max_version=ssl.TLSVersion.TLSv1_1)


def test_request_size_limit(ip):
    resp, _ = https(ip, "/", method="POST", body=b"x" * (2 * 1024 * 1024))
    assert resp.status == 413


def test_login_rate_limit(ip):
    statuses = [https(ip, "/login")[0].status for _ in range(20)]
    assert 429 in statuses
    assert statuses[0] != 429


def test_stub_status_on_loopback_only(host, ip):
    out = host.check_output("curl -s http://127.0.0.1:8080/stub_status")
    assert "Active connections" in out
    assert not host.socket(f"tcp://{ip}:8080").is_listening
    assert not host.socket("tcp://0.0.0.0:8080").is_listening


def test_selfsigned_certificate_covers_the_names(host):
    key = host.file("/etc/nginx/tls/gatehouse.key")
    assert key.mode == 0o600
    assert key.user == "root"
    cert = host.ansible(
        "community.crypto.x509_certificate_info", "path=/etc/nginx/tls/gatehouse.crt", check=False
    )
    assert set(cert["subject_alt_name"]) >= {"DNS:gatehouse.test", "DNS:localhost"}


def _playbook(*extra):
    scenario = os.environ["MOLECULE_SCENARIO_DIRECTORY"]
    return subprocess.run(
        [
            "ansible-playbook",
            "-i", os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"]),
            *extra,
            os.path.join(scenario, "converge.yml"),
        ],
        capture_output=True,
        text=True,
    )


def test_unknown_tls_mode_fails_before_any_change(host):
    before = host.file("/etc/nginx/nginx.conf").md5sum
    result = _playbook("-e", "nginx_tls_mode=acme", "-e", "nginx_client_max_body_size=9m")
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "nginx_tls_mode must be one of selfsigned, provided" in out
    assert host.file("/etc/nginx/nginx.conf").md5sum == before


def test_provided_certificate_is_served(host, ip):
    # The lab's path: a CA on the controller signs the certificate.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "molecule test CA")])
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gatehouse.test")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("gatehouse.test")]), critical=False)
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
        first = _playbook(*args)
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        again = _playbook(*args)
        assert again.returncode == 0
        assert "changed=0" in again.stdout

    served = ssl.get_server_certificate((ip, 443))
    served_cert = x509.load_pem_x509_certificate(served.encode())
    assert served_cert.issuer == ca_name
    assert host.file("/etc/nginx/tls/gatehouse.key").mode == 0o600
