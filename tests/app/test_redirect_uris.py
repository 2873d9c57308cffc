"""Redirect URIs are parsed strictly, so that this server and the browser agree on where they lead.

The reported attack: a client registered http://127.0.0.1:9999/callback; the
request's redirect_uri http://evil.example:7777\\@127.0.0.1:9999/callback was
127.0.0.1 to Python's urlsplit (so it passed the loopback port exception)
and evil.example to the browser (WHATWG reads `\\` as `/`), which took the
code there. Each class of such parser differentials is checked where a user
would notice it: at the authorization endpoint (an error page, no Location),
at RP-initiated logout, and at registration (refused, naming the field).
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
from urllib.parse import urlencode, urlsplit

import pytest
from conftest import REDIRECT, authorize_params, csrf_of, get_code, login, pkce_pair, redeem, register
from gatehouse import errors
from gatehouse.accounts import clients as clients_admin
from gatehouse.accounts.actor import SYSTEM
from gatehouse.accounts.clients import ClientError
from gatehouse.oauth import redirect_uris
from gatehouse.oauth.clients import redirect_uri_matches
from gatehouse.store.models import Client
from helpers import AUTHORIZE, LOGOUT

NATIVE_URIS = ["http://127.0.0.1:9999/callback", "http://[::1]:9999/callback", "http://localhost:9999/callback"]

# Each class: URIs that the urlsplit-based checks let through (at the request, against a registered
# http://127.0.0.1[:9999]/callback, or at registration) while a browser reads them differently or not at all.
USERINFO = [
    "http://evil.example@127.0.0.1:9999/callback",
    "http://evil.example:7777@127.0.0.1:9999/callback",
    "http://@127.0.0.1:9999/callback",
    "http://evil.example%40x@127.0.0.1:9999/callback",
    "http://127.0.0.1:9999@127.0.0.1:9999/callback",
]
BACKSLASH = [
    "http://evil.example:7777\\@127.0.0.1:9999/callback",  # the reported one
    "http://evil.example\\@127.0.0.1:9999/callback",
    "http://127.0.0.1:9999\\callback",
    "http://127.0.0.1:9999/callback\\",
    "http://127.0.0.1:9999/callback?next=\\\\evil.example",
]
WHITESPACE_OR_CONTROL = [
    "http://127.0.0.1:9999/call\tback",  # a browser drops tabs and newlines anywhere
    "http://127.0.0.1:99\n99/callback",
    "http://127.0.0.1:9999/callback\r\n",
    " http://127.0.0.1:9999/callback",
    "http://127.0.0.1:9999/callback ",
    "http://127.0.0.1:9999/call back",
    "http://127.0.0.1:9999/callback\x00",
    "http://127.0.0.1:9999/callback\x7f",
    "http://127.0.0.1:9999/callback%0d%0aSet-Cookie:x=1",  # percent-encoded controls too
    "http://127.0.0.1:9999/callback?x=%00",
    "http://127.0.0.1:9999/callback%7F",
]
FRAGMENT = [
    "http://127.0.0.1:9999/callback#",
    "http://127.0.0.1:9999/callback#x",
    "http://127.0.0.1:9999/callback?x=#@evil.example",
]
NON_ASCII = [
    "http://127\u30020\u30020\u30021:9999/callback",  # ideographic full stops: IDNA maps them to "."
    "http://127.0.0.1:\uff19\uff19\uff19\uff19/callback",  # fullwidth digits: int() reads them
    "http://127.0.0.1:9999/callb\u00e4ck",
    "http://127.0.0.1:9999/callback\u200b",
    "http://127.0.0.1:9999/callback?\u202e",
]
HOST_NOT_CANONICAL = [
    "http://127.0.0.%31:9999/callback",  # a browser percent-decodes the host
    "http://127.0.0.1%2F:9999/callback",
    "http://127.0.0.1%5C:9999/callback",
    "http://evil.example%2F127.0.0.1:9999/callback",
    "http://127.0.0.1.:9999/callback",  # trailing dot
    "http://localhost.:9999/callback",
    "http://LOCALHOST:9999/callback",  # uppercase host
    "http://Localhost:9999/callback",
]
IPV4_ODD_FORM = [
    "http://127.1:9999/callback",
    "http://0x7f.0.0.1:9999/callback",
    "http://0x7f000001:9999/callback",
    "http://2130706433:9999/callback",
    "http://127.000.000.001:9999/callback",
    "http://0177.0.0.1:9999/callback",
    "http://127.0.1:9999/callback",
    "http://127.0.0.1.0:9999/callback",
]
IPV6_ODD_FORM = [
    "http://[::1%25eth0]:9999/callback",  # zone id
    "http://[::1%eth0]:9999/callback",
    "http://[0:0:0:0:0:0:0:1]:9999/callback",
    "http://[0::1]:9999/callback",
    "http://[::ffff:127.0.0.1]:9999/callback",
    "http://[::FFFF:7f00:1]:9999/callback",
    "http://[v1.x]:9999/callback",
    "http://[::1:9999/callback",
]
PORT_NOT_CANONICAL = [
    "http://127.0.0.1:/callback",
    "http://127.0.0.1:09999/callback",
    "http://127.0.0.1:0/callback",
    "http://127.0.0.1:65536/callback",
    "http://127.0.0.1:99999999999999999999/callback",
    "http://127.0.0.1:+9999/callback",
    "http://127.0.0.1:80/callback",  # the default port: a browser drops it
    "http://127.0.0.1:9999:9999/callback",
]
SCHEME_OR_AUTHORITY_NOT_CANONICAL = [
    "HTTP://127.0.0.1:9999/callback",
    "Http://127.0.0.1:9999/callback",
    "http:127.0.0.1:9999/callback",  # a browser adds the missing slashes
    "http:/127.0.0.1:9999/callback",
    "http:///127.0.0.1:9999/callback",
]
DOT_SEGMENTS = [
    "http://127.0.0.1:9999/x/../callback",
    "http://127.0.0.1:9999/./callback",
    "http://127.0.0.1:9999/x/%2e%2e/callback",
    "http://127.0.0.1:9999/x/.%2E/callback",
]
OUTSIDE_RFC3986 = [
    "http://127.0.0.1:9999/callback%",
    "http://127.0.0.1:9999/callback%zz",
    "http://127.0.0.1:9999/callback%2",
    "http://127.0.0.1:9999/call|back",
    "http://127.0.0.1:9999/call^back",
    "http://127.0.0.1:9999/callback?x=<script>",
    'http://127.0.0.1:9999/callback?x="',
    "http://127.0.0.1:9999/call`back",
    "http://127.0.0.1:9999/call{back}",
    "http://127.0.0.1:9999/call[back]",
]
ALL_REFUSED = (
    USERINFO
    + BACKSLASH
    + WHITESPACE_OR_CONTROL
    + FRAGMENT
    + NON_ASCII
    + HOST_NOT_CANONICAL
    + IPV4_ODD_FORM
    + IPV6_ODD_FORM
    + PORT_NOT_CANONICAL
    + SCHEME_OR_AUTHORITY_NOT_CANONICAL
    + DOT_SEGMENTS
    + OUTSIDE_RFC3986
)
ACCEPTED = [
    "https://app.example.test/callback",
    "https://app.example.test:8443/oauth/callback?tenant=a%20b&x=1",
    "https://xn--bcher-kva.example/cb",
    "https://10.0.0.1/cb",
    "https://[2001:db8::1]:8443/cb",
    "https://app.example.test/",
    "https://app.example.test/cb?",
    "https://app.example.test/~user/a@b;c=d/%2Fx",
    "http://127.0.0.1/callback",
    "http://127.0.0.1:9999/callback",
    "http://[::1]/callback",
    "http://localhost/callback",
    "com.example.app:/oauth2redirect/example-provider",
    "com.example.app://callback",
    "com.googleusercontent.apps.123-abc:/oauth2redirect",
]


@pytest.fixture
def native(state):
    """A public native-app client on loopback, registered with a port (and so needing redirect_uri)."""
    return register(
        client_id="native",
        name="Native App",
        confidential=False,
        redirect_uris=NATIVE_URIS,
        post_logout_redirect_uris=["http://127.0.0.1:9999/bye", "https://app.example.test/bye"],
    )


def refused_at_authorization(http, client_id, uri):
    _, challenge = pkce_pair()
    response = http.get(AUTHORIZE, params=authorize_params(client_id, challenge, redirect_uri=uri))
    return response.status_code == 400 and "location" not in response.headers and "invalid_request" in response.text


def assert_refused_at_authorization(http, uri):
    login(http)
    for client_id in ("native", "spa"):  # registered with a port and without one
        assert refused_at_authorization(http, client_id, uri), (client_id, uri)


def assert_refused_at_registration(uri):
    """Refused by the rules the CLI, the admin API and the portal share, naming the field; nothing written."""
    for field in ("redirect_uris", "post_logout_redirect_uris"):
        uris = {"redirect_uris": ["http://127.0.0.1/cb"], "post_logout_redirect_uris": [], field: [uri]}
        with pytest.raises(ClientError, match="redirect URI"):
            clients_admin.validate(False, grant_types=["authorization_code"], scope="openid", **uris)
        with pytest.raises(errors.Invalid) as refused:
            clients_admin.create_client(
                SYSTEM,
                client_id="bad",
                name="Bad",
                confidential=False,
                grant_types=["authorization_code"],
                scope="openid",
                **uris,
            )
        assert (refused.value.status, refused.value.field) == (400, field)
    assert Client.select().count() == 0


# The reported attack, end to end --------------------------------------------------------------------


def test_reported_backslash_userinfo_redirect_uri_is_refused_at_authorization(http, user, native, spa):
    attack = "http://evil.example:7777\\@127.0.0.1:9999/callback"
    login(http)
    for client_id in ("native", "spa"):
        _, challenge = pkce_pair()
        response = http.get(AUTHORIZE, params=authorize_params(client_id, challenge, redirect_uri=attack))
        assert response.status_code == 400, response.headers.get("location")
        assert "location" not in response.headers
        assert "invalid_request" in response.text


def test_consent_with_a_bad_redirect_uri_is_refused_without_redirect(http, user, spa):
    """The consent form carries the original request: it is checked again, with the same rules."""
    login(http)
    _, challenge = pkce_pair()
    page = http.get(AUTHORIZE, params=authorize_params("spa", challenge))
    assert page.status_code == 200
    forged = authorize_params("spa", challenge, redirect_uri="http://evil.example:7777\\@127.0.0.1:9999/callback")
    response = http.post(
        "/consent",
        data={"csrf_token": csrf_of(page.text), "request": urlencode(forged), "decision": "allow"},
    )
    assert response.status_code == 400
    assert "location" not in response.headers


# Each differential class, at the authorization endpoint and at registration --------------------------


@pytest.mark.parametrize("uri", USERINFO)
def test_redirect_uri_with_userinfo_is_refused_at_authorization(http, user, native, spa, uri):
    assert_refused_at_authorization(http, uri)


@pytest.mark.parametrize("uri", USERINFO)
def test_redirect_uri_with_userinfo_is_refused_at_registration(state, uri):
    assert_refused_at_registration(uri)


@pytest.mark.parametrize("uri", BACKSLASH)
def test_redirect_uri_with_backslash_is_refused_at_authorization(http, user, native, spa, uri):
    assert_refused_at_authorization(http, uri)


@pytest.mark.parametrize("uri", BACKSLASH)
def test_redirect_uri_with_backslash_is_refused_at_registration(state, uri):
    assert_refused_at_registration(uri)


@pytest.mark.parametrize("uri", WHITESPACE_OR_CONTROL)
def test_redirect_uri_with_whitespace_or_control_characters_is_refused_at_authorization(http, user, native, spa, uri):
    assert_refused_at_authorization(http, uri)


@pytest.mark.parametrize("uri", WHITESPACE_OR_CONTROL)
def test_redirect_uri_with_whitespace_or_control_characters_is_refused_at_registration(state, uri):
    assert_refused_at_registration(uri)


@pytest.mark.parametrize("uri", FRAGMENT)
def test_redirect_uri_with_fragment_is_refused_at_authorization(http, user, native, spa, uri):
    assert_refused_at_authorization(http, uri)


@pytest.mark.parametrize("uri", FRAGMENT)
def test_redirect_uri_with_fragment_is_refused_at_registration(state, uri):
    assert_refused_at_registration(uri)


@pytest.mark.parametrize("uri", NON_ASCII)
def test_redirect_uri_with_non_ascii_characters_is_refused_at_authorization(http, user, native, spa, uri):
    assert_refused_at_authorization(http, uri)


@pytest.mark.parametrize("uri", NON_ASCII)
def test_redirect_uri_with_non_ascii_characters_is_refused_at_registration(state, uri):
    assert_refused_at_registration(uri)


@pytest.mark.parametrize("uri", HOST_NOT_CANONICAL)
def test_redirect_uri_with_encoded_uppercase_or_trailing_dot_host_is_refused_at_authorization(
    http, user, native, spa, uri
):
    assert_refused_at_authorization(http, uri)


@pytest.mark.parametrize("uri", HOST_NOT_CANONICAL)
def test_redirect_uri_with_encoded_uppercase_or_trailing_dot_host_is_refused_at_registration(state, uri):
    assert_refused_at_registration(uri)


@pytest.mark.parametrize("uri", IPV4_ODD_FORM)
def test_redirect_uri_with_ipv4_in_other_than_dotted_decimal_is_refused_at_authorization(http, user, native, spa, uri):
    assert_refused_at_authorization(http, uri)


@pytest.mark.parametrize("uri", IPV4_ODD_FORM)
def test_redirect_uri_with_ipv4_in_other_than_dotted_decimal_is_refused_at_registration(state, uri):
    assert_refused_at_registration(uri)


@pytest.mark.parametrize("uri", IPV6_ODD_FORM)
def test_redirect_uri_with_zone_id_or_non_canonical_ipv6_is_refused_at_authorization(http, user, native, spa, uri):
    assert_refused_at_authorization(http, uri)


@pytest.mark.parametrize("uri", IPV6_ODD_FORM)
def test_redirect_uri_with_zone_id_or_non_canonical_ipv6_is_refused_at_registration(state, uri):
    assert_refused_at_registration(uri)


@pytest.mark.parametrize("uri", PORT_NOT_CANONICAL)
def test_redirect_uri_with_empty_zero_padded_default_or_out_of_range_port_is_refused_at_authorization(
    http, user, native, spa, uri
):
    assert_refused_at_authorization(http, uri)


@pytest.mark.parametrize("uri", PORT_NOT_CANONICAL)
def test_redirect_uri_with_empty_zero_padded_default_or_out_of_range_port_is_refused_at_registration(state, uri):
    assert_refused_at_registration(uri)


@pytest.mark.parametrize("uri", SCHEME_OR_AUTHORITY_NOT_CANONICAL)
def test_redirect_uri_with_uppercase_scheme_or_without_two_slashes_is_refused_at_authorization(
    http, user, native, spa, uri
):
    assert_refused_at_authorization(http, uri)


@pytest.mark.parametrize("uri", SCHEME_OR_AUTHORITY_NOT_CANONICAL)
def test_redirect_uri_with_uppercase_scheme_or_without_two_slashes_is_refused_at_registration(state, uri):
    assert_refused_at_registration(uri)


@pytest.mark.parametrize("uri", DOT_SEGMENTS)
def test_redirect_uri_with_dot_segments_is_refused_at_authorization(http, user, native, spa, uri):
    assert_refused_at_authorization(http, uri)


@pytest.mark.parametrize("uri", DOT_SEGMENTS)
def test_redirect_uri_with_dot_segments_is_refused_at_registration(state, uri):
    assert_refused_at_registration(uri)


@pytest.mark.parametrize("uri", OUTSIDE_RFC3986)
def test_redirect_uri_outside_rfc3986_grammar_is_refused_at_authorization(http, user, native, spa, uri):
    assert_refused_at_authorization(http, uri)


@pytest.mark.parametrize("uri", OUTSIDE_RFC3986)
def test_redirect_uri_outside_rfc3986_grammar_is_refused_at_registration(state, uri):
    assert_refused_at_registration(uri)


@pytest.mark.parametrize("uri", ACCEPTED)
def test_well_formed_redirect_uris_are_accepted_at_registration(state, uri):
    clients_admin.validate(False, [uri], [uri], ["authorization_code"], "openid")


# Exact matching against the registered URIs ----------------------------------------------------


def test_unregistered_redirect_uri_shows_error_page_without_redirect(http, user, webapp):
    login(http)
    _, challenge = pkce_pair()
    params = authorize_params("webapp", challenge, redirect_uri="https://evil.example/callback")
    response = http.get("/api/v2/oauth/authorize", params=params)
    assert response.status_code == 400
    assert "location" not in response.headers


def test_redirect_uri_prefix_does_not_match(http, user, webapp):
    login(http)
    _, challenge = pkce_pair()
    params = authorize_params("webapp", challenge, redirect_uri=REDIRECT + "/extra")
    response = http.get("/api/v2/oauth/authorize", params=params)
    assert response.status_code == 400
    assert "location" not in response.headers


def test_non_loopback_redirect_uri_may_not_differ_in_port(http, user, webapp):
    login(http)
    _, challenge = pkce_pair()
    params = authorize_params("webapp", challenge, redirect_uri="https://app.example.test:8443/callback")
    assert http.get("/api/v2/oauth/authorize", params=params).status_code == 400


# The loopback port exception (RFC 8252 §7.3) -------------------------------------------------------


def test_loopback_redirect_uri_may_differ_in_port(http, user, spa):
    code, verifier, query = get_code(http, "spa", redirect_uri="http://127.0.0.1:53117/callback")
    response = redeem(http, code, verifier, spa, redirect_uri="http://127.0.0.1:53117/callback")
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("uri", ["http://127.0.0.1:53117/callback", "http://[::1]:53117/callback"])
def test_loopback_port_exception_applies_to_literal_loopback_ips(http, user, native, uri):
    code, verifier, _ = get_code(http, "native", redirect_uri=uri)
    assert redeem(http, code, verifier, native, redirect_uri=uri).status_code == 200


def test_loopback_port_exception_needs_literal_loopback_host(http, user, native, state):
    login(http)
    # localhost is a name (RFC 8252 §7.3 NOT RECOMMENDED): exact match only.
    assert not refused_at_authorization(http, "native", "http://localhost:9999/callback")
    assert refused_at_authorization(http, "native", "http://localhost:53117/callback")
    # Another loopback address, or the other literal, is another URI.
    assert refused_at_authorization(http, "native", "http://127.0.0.2:9999/callback")
    assert refused_at_authorization(http, "native", "http://127.0.0.2:53117/callback")
    # https on a loopback literal: exact match only.
    register(client_id="tls-loopback", name="TLS", confidential=False, redirect_uris=["https://127.0.0.1:8443/cb"])
    assert not refused_at_authorization(http, "tls-loopback", "https://127.0.0.1:8443/cb")
    assert refused_at_authorization(http, "tls-loopback", "https://127.0.0.1:8444/cb")
    assert refused_at_authorization(http, "tls-loopback", "http://127.0.0.1:8443/cb")


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:53117/Callback",
        "http://127.0.0.1:53117/callback/",
        "http://127.0.0.1:53117/callback?x=1",
        "http://127.0.0.1:53117/callback?",
        "http://127.0.0.1:53117//callback",
        "http://[::1]:53117/Callback",
        "http://127.0.0.1/callback",  # no port at all against a registered port
        "https://127.0.0.1:53117/callback",
    ],
)
def test_loopback_port_exception_changes_only_the_port(http, user, native, uri):
    login(http)
    assert refused_at_authorization(http, "native", uri)


def test_loopback_port_exception_compares_strictly_parsed_parts():
    assert redirect_uri_matches("http://127.0.0.1/callback", "http://127.0.0.1:1/callback")
    assert redirect_uri_matches("http://[::1]:9999/cb?a=1", "http://[::1]:65535/cb?a=1")
    assert not redirect_uri_matches("http://127.0.0.1/callback", "http://evil.example:7777\\@127.0.0.1:9999/callback")
    assert not redirect_uri_matches("http://127.0.0.1/callback", "http://127.0.0.1:9999/callback#")
    assert not redirect_uri_matches("http://127.0.0.1/cb", "http://[::1]:9999/cb")
    assert not redirect_uri_matches("http://localhost/cb", "http://localhost:9999/cb")
    assert not redirect_uri_matches("http://127.0.0.1/cb", None)


# Registrations made before these rules -------------------------------------------------------------


def test_registered_redirect_uri_failing_the_strict_rules_matches_nothing(http, user, spa):
    """A URI stored before the rules existed is refused even when presented exactly, or as the default."""
    legacy = "http://evil.example:7777\\@127.0.0.1:9999/callback"
    Client.update(redirect_uris=[legacy]).where(Client.client_id == "spa").execute()
    login(http)
    assert refused_at_authorization(http, "spa", legacy)
    _, challenge = pkce_pair()
    params = authorize_params("spa", challenge)
    del params["redirect_uri"]
    response = http.get(AUTHORIZE, params=params)
    assert response.status_code == 400 and "location" not in response.headers


# RP-initiated logout: the same matcher -------------------------------------------------------------


def test_post_logout_redirect_uri_gets_the_loopback_port_exception(http, native):
    response = http.get(LOGOUT, params={"client_id": "native", "post_logout_redirect_uri": "http://127.0.0.1:4000/bye"})
    assert response.status_code == 303
    assert response.headers["location"] == "http://127.0.0.1:4000/bye"
    response = http.get(
        LOGOUT, params={"client_id": "native", "post_logout_redirect_uri": "https://app.example.test/bye"}
    )
    assert response.status_code == 303


@pytest.mark.parametrize(
    "uri",
    [
        "http://evil.example:7777\\@127.0.0.1:9999/bye",
        "http://evil.example@127.0.0.1:9999/bye",
        "http://127.1:9999/bye",
        "http://127.0.0.1:9999/bye#",
        "http://127.0.0.1:09999/bye",
        "http://127.0.0.1:9999/b\tye",
        "HTTP://127.0.0.1:9999/bye",
        "https://app.example.test:443/bye",
    ],
)
def test_post_logout_redirect_uri_with_parser_differential_is_refused(http, native, uri):
    response = http.get(LOGOUT, params={"client_id": "native", "post_logout_redirect_uri": uri})
    assert response.status_code == 400
    assert "location" not in response.headers


# Against a real WHATWG parser ----------------------------------------------------------------------

NODE = shutil.which("node")
VALID_PIECES = {
    "scheme": ["http", "https", "com.example.app"],
    "sep": ["://"],
    "userinfo": [""],
    "host": [
        "127.0.0.1",
        "[::1]",
        "localhost",
        "app.example.test",
        "10.0.0.1",
        "[2001:db8::1]",
        "xn--bcher-kva.example",
    ],
    "port": ["", ":9999", ":1", ":65535", ":8443"],
    "path": ["/callback", "/", "/c%41b", "/a@b", "//x", "/a/b/", "/%2Fx"],
    "query": ["", "?", "?x=1", "?x=%27", "?a=b&c=%20", "?next=/a?b"],
    "fragment": [""],
}
ODD_PIECES = {
    "scheme": ["HTTP", "hTtps", "javascript", "http ", "data", "ws"],
    "sep": [":/", ":", ":///", ":\\\\", "://\\", "://\t"],
    "userinfo": ["evil.example@", "evil.example:7777\\@", "a:b@", "@", "%40@"],
    "host": [
        "127.1",
        "0x7f.0.0.1",
        "2130706433",
        "127.0.0.01",
        "127.0.0.1.",
        "LOCALHOST",
        "[0::1]",
        "[::1%25lo]",
        "127.0.0.%31",
        "evil.example%2F",
        "app.example.123",
        "a..b",
        "127\u30020.0.1",
        "exa_mple.test",
        "",
    ],
    "port": [":0", ":09999", ":65536", ":", ":80", ":443", ":\uff19"],
    "path": ["", "/a/../cb", "/%2e/cb", "/cb\\x", "/c b", "/c\tb", "/cb%0a", "/c|b"],
    "query": ["?x='", "?x=<>", "?x=\\", "?x=%00"],
    "fragment": ["#", "#x"],
}


def generated_uris(count=20_000, seed=20260509):
    """URIs of valid parts with, for most, one or two odd parts in: near misses, where differentials hide."""
    rng = random.Random(seed)
    for _ in range(count):
        odd = set(rng.sample(list(ODD_PIECES), rng.choice([0, 1, 1, 2])))
        yield "".join(rng.choice((ODD_PIECES if part in odd else VALID_PIECES)[part]) for part in VALID_PIECES)


def whatwg(uris):
    """Node's URL (WHATWG): for each URI, [href, hostname, port] or None when a browser cannot parse it."""
    script = (
        "const uris = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify(uris.map(u => { try { const x = new URL(u); return [x.href, x.hostname, x.port] }"
        " catch (e) { return null } })))"
    )
    result = subprocess.run([NODE, "-e", script], input=json.dumps(uris), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.skipif(NODE is None, reason="node is absent: no WHATWG URL parser to compare with")
def test_every_accepted_redirect_uri_reads_the_same_to_a_browser_and_to_python():
    """Whatever check() accepts is its own WHATWG serialization, with the host and port that
    check(), urlsplit and the browser all read: no parser differential is left to exploit."""
    accepted = sorted({u for u in [*ACCEPTED, *generated_uris()] if redirect_uris.is_valid(u)})
    assert len(accepted) > 1000  # the generator does reach valid URIs
    for uri, parsed in zip(accepted, whatwg(accepted), strict=True):
        ours, python = redirect_uris.parse(uri), urlsplit(uri)
        assert parsed is not None, uri
        href, hostname, port = parsed
        assert href == uri
        assert hostname == (ours.host or "") == re.sub(r"^(?=.*:)(.*)$", r"[\1]", python.hostname or "")
        assert port == str(ours.port or "") == str(python.port or "")
    refused = [u for u in [*ALL_REFUSED, *generated_uris()] if not redirect_uris.is_valid(u)]
    assert set(ALL_REFUSED) <= set(refused)


@pytest.mark.skipif(NODE is None, reason="node is absent: no WHATWG URL parser to compare with")
def test_reported_redirect_uri_leads_elsewhere_in_a_browser():
    """Why the rules exist: urlsplit and the browser read the reported URI's host differently."""
    attack = "http://evil.example:7777\\@127.0.0.1:9999/callback"
    assert urlsplit(attack).hostname == "127.0.0.1"
    assert whatwg([attack])[0][1] == "evil.example"


def test_gatehouse_check_clients_names_registrations_the_current_rules_refuse(state, env, spa):
    """After an upgrade, stored URIs that fail the strict parse match nothing: the operator can list them first."""
    from conftest import run_cli
    from gatehouse.store.models import Client

    def run():
        return run_cli(env, "check-clients")

    clean = run()
    assert clean.returncode == 0 and "clients ok" in clean.stdout
    # Rows as an older version could have written them.
    Client.update(redirect_uris=["http://evil.example:7777\\@127.0.0.1:9999/callback"]).where(
        Client.client_id == "spa"
    ).execute()
    Client.update(client_id="1234", scope="openid admin").where(Client.client_id == "spa").execute()
    found = run()
    assert found.returncode == 1
    assert "1234: redirect_uris 'http://evil.example:7777\\\\@127.0.0.1:9999/callback'" in found.stdout
    assert "backslash" in found.stdout and "matches nothing" in found.stdout
    assert "1234: client id must not be all digits" in found.stdout
    assert "scope holds admin but it is not an admin client" in found.stdout
    assert "3 problem(s)" in found.stderr
