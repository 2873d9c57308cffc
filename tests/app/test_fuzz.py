"""Malformed input to every endpoint never yields a 5xx (issue: "Bad input anywhere ...
gets a clear error"; DESIGN: "no handler returns a bare 500 for bad input").

Hypothesis builds requests from junk: unknown and repeated parameters,
unicode, huge values, random bytes, wrong content types, broken
Authorization headers and cookies, bad percent-encoding. The OAuth
endpoints are fuzzed both anonymously and with a valid client and a signed-in
user, so that the junk reaches the grant and consent code and not only the
first check. A last test walks every route the app has, so a new endpoint is
fuzzed without anyone having to add it here.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, urlencode

import pytest
from conftest import ISSUER, REDIRECT, basic, login, pkce_pair
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route

FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture
def env(env):
    # Fuzzing must reach the password check, not stop at the login throttle.
    env["RATE_LIMIT_LOGIN_PER_MINUTE"] = "1000000"
    return env


@pytest.fixture
def signed_in(http, user):
    """`http` with alice signed in, once per test rather than once per example."""
    login(http)
    return http


@pytest.fixture
def anonymous(app):
    with TestClient(app, base_url=ISSUER, follow_redirects=False) as client:
        yield client


# Values ---------------------------------------------------------------------

SPECIAL = [
    "",
    " ",
    "\x00",
    "\t\r\n",
    "%",
    "%zz",
    "%ff%fe",
    "null",
    "[]",
    "{}",
    '{"a":1}',
    "-1",
    "0",
    "1e309",
    "²",  # isdigit() but not int()
    "١٢٣",  # Arabic-Indic digits
    "9" * 40,
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "S256",
    "plain",
    "code",
    "token",
    "none",
    "login consent none",
    "openid",
    "openid profile email offline_access api:read",
    "authorization_code",
    "client_credentials",
    "refresh_token",
    "password",
    "urn:ietf:params:oauth:grant-type:device_code",
    "webapp",
    "spa",
    "service",
    REDIRECT,
    "http://127.0.0.1:1/callback",
    "javascript:alert(1)",
    "//evil.example",
    "https://evil.example/",
    "eyJhbGciOiJub25lIn0.e30.",
    "eyJhbGciOiJSUzI1NiIsImtpZCI6Inh5eiJ9.eyJzdWIiOiIxIn0.c2ln",
    "a.b.c",
    "e30.e30.e30",
    "W10.W10.W10",
    "\u202e\ufeff\u0301",
    "😀" * 10,
]

text = st.one_of(
    st.sampled_from(SPECIAL),
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
    st.integers(min_value=1000, max_value=12_000).map(lambda n: "A" * n),
)

PARAMS = [
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "scope",
    "client_id",
    "client_secret",
    "token",
    "token_type_hint",
    "response_type",
    "response_mode",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "username",
    "password",
    "csrf_token",
    "return_to",
    "decision",
    "request",
    "request_uri",
    "id_token_hint",
    "post_logout_redirect_uri",
    "confirm",
    "access_token",
    "claims",
    "resource",
    "login_hint",
]

name = st.one_of(st.sampled_from(PARAMS), st.text(max_size=20))
pairs = st.lists(st.tuples(name, text), max_size=12)


def latin1(max_size=200):
    chars = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")
    return st.text(alphabet=chars, max_size=max_size).map(lambda s: s.encode("latin-1"))


def _basic(user: str, password: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{user}:{password}".encode())


authorization = st.one_of(
    st.none(),
    st.builds(_basic, text, text),
    st.builds(lambda raw: b"Basic " + raw, latin1()),
    st.builds(lambda raw: b"Bearer " + raw, latin1(600)),
    st.sampled_from([b"Basic", b"Basic ", b"Bearer", b"Bearer ", b"basic Og==", b"Basic =", b"Digest x"]),
    latin1(),
)

CONTENT_TYPES = [
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=utf-8",
    "APPLICATION/X-WWW-FORM-URLENCODED",
    "application/json",
    "multipart/form-data; boundary=xyz",
    "multipart/form-data",
    "text/plain",
    "",
]
content_type = st.one_of(st.none(), st.sampled_from(CONTENT_TYPES), latin1(60))

headers = st.fixed_dictionaries(
    {},
    optional={
        "Authorization": authorization,
        "Cookie": st.one_of(
            # The name the server reads under the tests' https issuer (Settings.session_cookie).
            st.builds(lambda v: b"__Host-gatehouse_session=" + v, latin1(200)),
            latin1(),
        ),
        "X-Request-ID": latin1(100),
        "Accept": st.sampled_from([b"*/*", b"text/html", b"application/json", b"\xff"]),
        "Origin": latin1(50),
    },
).map(lambda h: {k: v for k, v in h.items() if v is not None})


def _form(items):
    return urlencode(items).encode()


body = st.one_of(
    st.builds(lambda items, ct: (_form(items), ct or "application/x-www-form-urlencoded"), pairs, content_type),
    st.builds(lambda raw, ct: (raw, ct), st.binary(max_size=2000), content_type),
    st.builds(lambda items: (json.dumps(dict(items)).encode(), "application/json"), pairs),
    st.builds(lambda n: (b"a=" + b"x" * n, "application/x-www-form-urlencoded"), st.integers(60_000, 300_000)),
    st.builds(lambda n: (b"&".join([b"a=1"] * n), "application/x-www-form-urlencoded"), st.integers(90, 3000)),
    st.builds(
        lambda raw: (raw.encode("latin-1"), "application/x-www-form-urlencoded"),
        st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0xFF), max_size=300),
    ),
)

ascii_query = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#"), max_size=300
)
query = st.one_of(
    st.builds(lambda items: urlencode(items).encode(), pairs),
    ascii_query.map(str.encode),
).filter(lambda q: len(q) <= 65_536)  # httpx refuses a longer URL component before sending: no request at all


# Sending --------------------------------------------------------------------


def send(http, method, path, query_bytes=b"", body_ct=None, extra_headers=None):
    request_headers = dict(extra_headers or {})
    content = None
    if body_ct is not None:
        content, ctype = body_ct
        if ctype:
            request_headers["Content-Type"] = ctype.encode("latin-1") if isinstance(ctype, str) else ctype
    url = http.base_url.copy_with(path=path, query=query_bytes or None)
    response = http.request(method, url, content=content, headers=request_headers)
    assert response.status_code < 500, (method, path, query_bytes[:200], response.status_code, response.text[:500])
    return response


def assert_oauth_error(response):
    """RFC 6749 §5.2: an error of the token-like endpoints is JSON with an `error` code."""
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/json"), response.text[:200]
        assert isinstance(response.json().get("error"), str)


# The OAuth endpoints, anonymous and with a valid client ---------------------


client_auth = st.sampled_from(["none", "webapp", "service", "spa-post", "junk"])


def _with_client(choice, extra, webapp, service):
    headers_ = dict(extra)
    form = []
    if choice == "webapp":
        headers_["Authorization"] = basic(*webapp)["Authorization"].encode()
    elif choice == "service":
        form = [("client_id", service[0]), ("client_secret", service[1])]
    elif choice == "spa-post":
        form = [("client_id", "spa")]
    return headers_, form


@FUZZ
@given(choice=client_auth, items=pairs, extra=headers, ct=content_type, raw=st.one_of(st.none(), body))
def test_token_endpoint_never_answers_5xx(http, user, webapp, spa, service, choice, items, extra, ct, raw):
    headers_, form = _with_client(choice, extra, webapp, service)
    payload = raw if raw is not None else (_form(form + items), ct or "application/x-www-form-urlencoded")
    response = send(http, "POST", "/api/v2/oauth/token", body_ct=payload, extra_headers=headers_)
    assert_oauth_error(response)


grant_form = st.tuples(
    st.sampled_from(["authorization_code", "refresh_token", "client_credentials"]),
    st.lists(st.tuples(st.sampled_from(PARAMS), text), max_size=8),
)


@FUZZ
@given(choice=client_auth, grant=grant_form)
def test_token_endpoint_grants_never_answer_5xx_to_junk_values(http, user, webapp, spa, service, choice, grant):
    grant_type, items = grant
    headers_, form = _with_client(choice, {}, webapp, service)
    payload = (_form([("grant_type", grant_type)] + form + items), "application/x-www-form-urlencoded")
    response = send(http, "POST", "/api/v2/oauth/token", body_ct=payload, extra_headers=headers_)
    assert_oauth_error(response)


@pytest.mark.parametrize("endpoint", ["introspect", "revoke"])
@FUZZ
@given(choice=client_auth, items=pairs, extra=headers, raw=st.one_of(st.none(), body))
def test_introspection_and_revocation_never_answer_5xx(http, webapp, service, endpoint, choice, items, extra, raw):
    headers_, form = _with_client(choice, extra, webapp, service)
    token = [("token", t) for t in ("a.b.c",)] if not items else []
    payload = raw if raw is not None else (_form(form + token + items), "application/x-www-form-urlencoded")
    response = send(http, "POST", f"/api/v2/oauth/{endpoint}", body_ct=payload, extra_headers=headers_)
    assert_oauth_error(response)


# The authorization endpoint and consent, with a signed-in user ---------------


def _valid_authorize_params(challenge):
    return {
        "response_type": "code",
        "client_id": "webapp",
        "redirect_uri": REDIRECT,
        "scope": "openid profile email offline_access",
        "state": "s",
        "nonce": "n",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }


mutation = st.lists(
    st.one_of(
        st.tuples(st.just("drop"), st.sampled_from(PARAMS), st.just("")),
        st.tuples(st.just("set"), st.sampled_from(PARAMS), text),
        st.tuples(st.just("add"), name, text),
    ),
    min_size=1,
    max_size=5,
)


def _mutate(base: dict, changes) -> list[tuple[str, str]]:
    items = dict(base)
    added = []
    for op, key, value in changes:
        if op == "drop":
            items.pop(key, None)
        elif op == "set":
            items[key] = value
        else:
            added.append((key, value))
    return list(items.items()) + added


@FUZZ
@given(changes=mutation, extra=headers, via_post=st.booleans())
def test_authorization_endpoint_never_answers_5xx(signed_in, webapp, spa, changes, extra, via_post):
    http = signed_in
    items = _mutate(_valid_authorize_params(pkce_pair()[1]), changes)
    extra.pop("Cookie", None)  # keep the signed-in session
    if via_post:
        payload = (_form(items), "application/x-www-form-urlencoded")
        send(http, "POST", "/api/v2/oauth/authorize", body_ct=payload, extra_headers=extra)
    else:
        send(http, "GET", "/api/v2/oauth/authorize", urlencode(items).encode(), extra_headers=extra)


@FUZZ
@given(via_post=st.booleans(), q=query, extra=headers, raw=body)
def test_authorization_endpoint_never_answers_5xx_to_raw_junk(http, user, webapp, via_post, q, extra, raw):
    if via_post:
        send(http, "POST", "/api/v2/oauth/authorize", body_ct=raw, extra_headers=extra)
    else:
        send(http, "GET", "/api/v2/oauth/authorize", q, extra_headers=extra)


@pytest.fixture
def csrf(signed_in, webapp):
    page = signed_in.get("/api/v2/oauth/authorize", params=_valid_authorize_params(pkce_pair()[1]))
    return page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


@FUZZ
@given(changes=mutation, decision=st.one_of(st.sampled_from(["allow", "deny"]), text), items=pairs, raw=body)
def test_consent_never_answers_5xx(signed_in, csrf, webapp, changes, decision, items, raw):
    http = signed_in
    original = urlencode(_mutate(_valid_authorize_params(pkce_pair()[1]), changes))
    form = [("csrf_token", csrf), ("request", original), ("decision", decision)] + items
    send(http, "POST", "/consent", body_ct=(_form(form), "application/x-www-form-urlencoded"))
    send(http, "POST", "/consent", body_ct=raw)


# The end-user pages ---------------------------------------------------------


@FUZZ
@given(q=query, items=pairs, extra=headers, raw=st.one_of(st.none(), body), with_csrf=st.booleans())
def test_login_never_answers_5xx(http, user, q, items, extra, raw, with_csrf):
    page = send(http, "GET", "/login", q, extra_headers=extra)
    form = list(items)
    if with_csrf and page.status_code == 200 and 'name="csrf_token"' in page.text:
        csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        form = [("csrf_token", csrf), ("username", "alice")] + form
    payload = raw if raw is not None else (_form(form), "application/x-www-form-urlencoded")
    send(http, "POST", "/login", body_ct=payload, extra_headers=extra)


@FUZZ
@given(
    path=st.sampled_from(["/logout", "/api/v2/oauth/logout"]),
    q=query,
    items=pairs,
    extra=headers,
    raw=st.one_of(st.none(), body),
    as_user=st.booleans(),
)
def test_logout_pages_never_answer_5xx(signed_in, anonymous, webapp, path, q, items, extra, raw, as_user):
    http = signed_in if as_user else anonymous
    if as_user:
        extra.pop("Cookie", None)
    payload = raw if raw is not None else (_form(items), "application/x-www-form-urlencoded")
    send(http, "GET", path, q, extra_headers=extra)
    send(http, "POST", path, body_ct=payload, extra_headers=extra)


@FUZZ
@given(method=st.sampled_from(["GET", "POST"]), q=query, extra=headers, raw=st.one_of(st.none(), body))
def test_userinfo_never_answers_5xx(http, user, method, q, extra, raw):
    response = send(http, method, "/api/v2/oauth/userinfo", q, body_ct=raw, extra_headers=extra)
    assert_oauth_error(response)


@FUZZ
@given(
    path=st.sampled_from(
        [
            "/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server",
            "/jwks.json",
            "/health",
            "/health/live",
            "/health/ready",
            "/openapi.json",
            "/",
        ]
    ),
    method=st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    q=query,
    extra=headers,
    raw=st.one_of(st.none(), body),
)
def test_discovery_jwks_and_health_never_answer_5xx(http, path, method, q, extra, raw):
    send(http, method, path, q, body_ct=raw, extra_headers=extra)


# Every route of the app -----------------------------------------------------


def _walk(routes, prefix=""):
    for route in routes:
        if isinstance(route, Route) and route.methods:
            for method in sorted(route.methods - {"HEAD"}):
                yield method, prefix + route.path
        elif hasattr(route, "original_router"):
            # FastAPI keeps an included router as one nested route.
            context = getattr(route, "include_context", None)
            yield from _walk(route.original_router.routes, prefix + getattr(context, "prefix", ""))


def _routes(app):
    return sorted(set(_walk(app.routes)))


def test_every_route_is_covered_by_the_route_walk(app):
    covered = set(_routes(app))
    for expected in [
        ("POST", "/api/v2/oauth/token"),
        ("POST", "/api/v2/oauth/introspect"),
        ("POST", "/api/v2/oauth/revoke"),
        ("GET", "/api/v2/oauth/authorize"),
        ("POST", "/api/v2/oauth/authorize"),
        ("POST", "/consent"),
        ("GET", "/login"),
        ("POST", "/login"),
        ("GET", "/logout"),
        ("POST", "/logout"),
        ("GET", "/api/v2/oauth/userinfo"),
        ("POST", "/api/v2/oauth/userinfo"),
        ("GET", "/api/v2/oauth/logout"),
        ("POST", "/api/v2/oauth/logout"),
        ("GET", "/.well-known/openid-configuration"),
        ("GET", "/jwks.json"),
        ("GET", "/health"),
    ]:
        assert expected in covered
    # Whatever FastAPI does with routers next, the walk must still see every documented operation.
    for path, operations in app.openapi()["paths"].items():
        for method in operations:
            assert (method.upper(), path) in covered


@pytest.fixture
def admin(http, admin_user):
    login(http, "root-admin")
    return http


path_param = st.one_of(st.sampled_from(["1", "0", "-1", "999999999999999999999", "webapp", "%00", ".."]), text)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data(), q=query, extra=headers, raw=st.one_of(st.none(), body), as_admin=st.booleans())
def test_every_route_never_answers_5xx(admin, anonymous, app, webapp, data, q, extra, raw, as_admin):
    method, path = data.draw(st.sampled_from(_routes(app)), label="route")
    http = admin if as_admin else anonymous
    if as_admin:
        extra.pop("Cookie", None)
    filled = path
    while "{" in filled:
        start, end = filled.index("{"), filled.index("}")
        value = data.draw(path_param, label=filled[start + 1 : end])
        filled = filled[:start] + (quote(value, safe="") or "x") + filled[end + 1 :]
    send(http, method, filled, q, body_ct=raw, extra_headers=extra)


# What the fuzzing found, pinned as plain tests ------------------------------


def test_repeated_parameter_with_a_non_ascii_name_is_invalid_request(http):
    response = http.post(
        "/api/v2/oauth/token",
        content='é"=1&é"=2'.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert response.json()["error_description"].isascii()


def test_unsupported_response_type_with_forbidden_characters_is_an_oauth_error(http, user, webapp):
    login(http)
    params = _valid_authorize_params(pkce_pair()[1])
    params["response_type"] = 'cödé"'
    response = http.get("/api/v2/oauth/authorize", params=params)
    assert response.status_code == 302
    assert "error=unsupported_response_type" in response.headers["location"]


@pytest.mark.parametrize("header", [b"Basic ", b"Basic \xc3\xa9\xc3\xa9", b"Basic " + base64.b64encode(b"\xff\xfe:x")])
def test_malformed_basic_credentials_are_invalid_client(http, webapp, header):
    for path in ("/api/v2/oauth/token", "/api/v2/oauth/introspect", "/api/v2/oauth/revoke"):
        response = http.post(
            path,
            content=b"grant_type=client_credentials&token=x",
            headers={"Authorization": header, "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 401, (path, response.text)
        assert response.json()["error"] == "invalid_client"
        assert response.headers["www-authenticate"].startswith("Basic")


def test_non_ascii_csrf_token_is_refused_not_a_server_error(http, user):
    http.get("/login")
    response = http.post("/login", data={"username": "alice", "password": "x" * 10, "csrf_token": "é" * 20})
    assert response.status_code == 400
    response = http.post("/logout", data={"csrf_token": "é"})
    assert response.status_code < 500


# The admin API with a valid admin token: junk reaches the body and path parsers and the domain
# rules (a session cookie without its CSRF header would be refused before any of them).

ADMIN_FIELDS = [
    "username",
    "password",
    "email",
    "name",
    "is_active",
    "is_admin",
    "client_id",
    "confidential",
    "redirect_uris",
    "post_logout_redirect_uris",
    "grant_types",
    "scope",
    "permissions",
    "description",
]
json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), text),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(text, children, max_size=4)),
    max_leaves=10,
)
admin_body = st.one_of(
    st.builds(
        lambda d: (json.dumps(d).encode(), "application/json"),
        st.dictionaries(st.one_of(st.sampled_from(ADMIN_FIELDS), text), json_value, max_size=8),
    ),
    st.builds(lambda raw, ct: (raw, ct), st.binary(max_size=500), content_type),
)


@pytest.fixture
def admin_token(state, admin_user):
    from helpers import token_for

    return token_for(state, admin_user)


@FUZZ
@given(data=st.data(), q=query, raw=st.one_of(st.none(), admin_body))
def test_admin_api_never_answers_5xx_with_a_valid_admin_token(anonymous, app, admin_token, webapp, data, q, raw):
    routes = [(m, p) for m, p in _routes(app) if p.startswith("/api/v2/admin")]
    method, path = data.draw(st.sampled_from(routes), label="route")
    filled = path
    while "{" in filled:
        start, end = filled.index("{"), filled.index("}")
        value = data.draw(st.one_of(st.sampled_from(["1", "admin", "webapp", "users:read"]), path_param))
        filled = filled[:start] + (quote(value, safe="") or "x") + filled[end + 1 :]
    response = send(anonymous, method, filled, q, body_ct=raw, extra_headers={"Authorization": f"Bearer {admin_token}"})
    if response.status_code >= 400:
        assert isinstance(response.json().get("error"), str), response.text[:200]
