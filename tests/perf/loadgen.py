"""Load that wrk cannot make: a fixed arrival rate, and browser-like flows.

A tiny HTTP/1.1 keep-alive client on asyncio (uvloop when installed): a
request is a prepared bytes string and a response is read by its
Content-Length, so the load generator spends microseconds per request,
not the few hundred an httpx request costs.

- `fixed_rate`: wrk2's method. Each connection sends on its own schedule
  (rate / connections per second, staggered); latency is measured from the
  time a request was *due*, not from when it went out, so a stalled server
  is charged for the requests it delayed (no coordinated omission). The
  generator's own lateness is reported, so a figure it could not honour is
  visible.
- `flows`: complete authorization-code flows as a browser and a client
  application make them, each on fresh cookies, timed from the first
  request to the token response.

Run as `python loadgen.py < job.json` (run.py does, pinned to the load
core); prints one JSON object.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import json
import re
import secrets
import sys
import time
from urllib.parse import parse_qs, urlencode, urlsplit

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ORIGINAL_REQUEST = re.compile(r'name="request" value="([^"]+)"')


class HTTPError(Exception):
    pass


def build_request(method: str, path: str, host: str, headers=(), body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    def send(self, raw: bytes) -> None:
        self.writer.write(raw)

    async def receive(self) -> tuple[int, dict, bytes]:
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, list[str]] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers.setdefault(name.strip().lower(), []).append(value.strip())
        if "chunked" in ",".join(headers.get("transfer-encoding", [])).lower():
            raise HTTPError("chunked responses are not supported by this client")
        length = int(headers.get("content-length", ["0"])[0])
        body = await self.reader.readexactly(length) if length else b""
        return status, headers, body

    async def request(self, raw: bytes) -> tuple[int, dict, bytes]:
        self.send(raw)
        return await self.receive()

    def close(self) -> None:
        self.writer.close()


def percentiles(values: list[float], points=(50, 75, 90, 99, 99.9)) -> dict:
    if not values:
        return {f"p{p}": None for p in points}
    ordered = sorted(values)
    result = {}
    for p in points:
        index = min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered) + 0.5)) - 1))
        result[f"p{p}"] = ordered[index]
    result["max"] = ordered[-1]
    result["mean"] = sum(ordered) / len(ordered)
    return result


# Fixed rate -----------------------------------------------------------------
async def fixed_rate(job: dict) -> dict:
    host, port = job["host"], job["port"]
    rate, seconds, connections = float(job["rate"]), float(job["seconds"]), int(job["connections"])
    raw = build_request(
        job["method"], job["path"], f"{host}:{port}", job.get("headers", []), job.get("body", "").encode()
    )
    loop = asyncio.get_running_loop()
    conns = [await Connection.open(host, port) for _ in range(connections)]
    interval = connections / rate
    start = loop.time() + 0.2
    end = start + seconds
    corrected: list[float] = []
    service: list[float] = []
    lag: list[float] = []
    statuses: dict[int, int] = {}
    failures = 0

    async def drive(index: int, conn: Connection):
        nonlocal failures
        due = start + index / rate
        free_since = 0.0  # when this connection's previous response arrived
        while due < end:
            now = loop.time()
            if due > now:
                await asyncio.sleep(due - now)
            sent = loop.time()
            if free_since <= due:
                # Idle at the due time: any lateness is the generator's own.
                lag.append(sent - due)
            try:
                status, _, _ = await conn.request(raw)
            except (OSError, asyncio.IncompleteReadError, HTTPError):
                failures += 1
                conn.close()
                conn = await Connection.open(host, port)
                due += interval
                continue
            done = free_since = loop.time()
            statuses[status] = statuses.get(status, 0) + 1
            corrected.append(done - due)
            service.append(done - sent)
            due += interval

    cpu_before = time.process_time()
    await asyncio.gather(*(drive(i, c) for i, c in enumerate(conns)))
    elapsed = loop.time() - start
    cpu = time.process_time() - cpu_before
    for conn in conns:
        conn.close()
    ok = sum(n for s, n in statuses.items() if s < 400)
    return {
        "target_rate": rate,
        "achieved_rate": ok / elapsed,
        "completed": len(corrected),
        "ok": ok,
        "statuses": {str(k): v for k, v in statuses.items()},
        "failures": failures,
        "latency": percentiles(corrected),
        "service_latency": percentiles(service),
        "send_lag": percentiles(lag),
        "generator_cpu_share": cpu / elapsed,
    }


# Authorization-code flows ----------------------------------------------------
def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _cookie(headers: dict, name: str) -> str | None:
    for value in headers.get("set-cookie", []):
        pair = value.split(";", 1)[0]
        key, _, val = pair.partition("=")
        if key.strip() == name:
            return val.strip()
    return None


def _path_of(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + ("?" + parts.query if parts.query else "")


class Flow:
    """One browser + one client application doing the authorization-code flow."""

    def __init__(self, job: dict, conn: Connection):
        self.job = job
        self.conn = conn
        self.host = f"{job['host']}:{job['port']}"
        self.cookie_name = job["cookie_name"]
        self.basic = "Basic " + base64.b64encode(f"{job['client_id']}:{job['client_secret']}".encode()).decode()

    async def _call(
        self,
        step: str,
        method: str,
        path: str,
        cookie: str | None = None,
        body: dict | None = None,
        basic: bool = False,
        expect: int = 200,
    ):
        headers = []
        if cookie:
            headers.append(("Cookie", f"{self.cookie_name}={cookie}"))
        if basic:
            headers.append(("Authorization", self.basic))
        data = b""
        if body is not None:
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))
            data = urlencode(body).encode()
        status, response_headers, response_body = await self.conn.request(
            build_request(method, path, self.host, headers, data)
        )
        if status != expect:
            raise HTTPError(f"{step}: expected {expect}, got {status}: {response_body[:200]!r}")
        return response_headers, response_body

    def _authorize_path(self, challenge: str) -> str:
        params = {
            "response_type": "code",
            "client_id": self.job["client_id"],
            "redirect_uri": self.job["redirect_uri"],
            "scope": self.job["scope"],
            "state": secrets.token_urlsafe(8),
            "nonce": secrets.token_urlsafe(8),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return "/api/v2/oauth/authorize?" + urlencode(params)

    async def login(self, return_to: str) -> str:
        """GET /login, POST /login; return the signed-in session cookie."""
        headers, body = await self._call("login page", "GET", "/login?" + urlencode({"return_to": return_to}))
        anonymous = _cookie(headers, self.cookie_name)
        csrf = CSRF.search(body.decode()).group(1)
        form = {
            "username": self.job["username"],
            "password": self.job["password"],
            "csrf_token": csrf,
            "return_to": return_to,
        }
        headers, _ = await self._call("login", "POST", "/login", anonymous, form, expect=303)
        session = _cookie(headers, self.cookie_name)
        if not session:
            raise HTTPError("login: no session cookie")
        return session

    async def code(self, session: str, authorize_path: str, allow_consent: bool = False) -> str:
        status_expected = 200 if allow_consent else 302
        headers, body = await self._call("authorize", "GET", authorize_path, session, expect=status_expected)
        if allow_consent:
            text = body.decode()
            form = {
                "csrf_token": CSRF.search(text).group(1),
                "request": html.unescape(ORIGINAL_REQUEST.search(text).group(1)),
                "decision": "allow",
            }
            headers, _ = await self._call("consent", "POST", "/consent", session, form, expect=302)
        query = parse_qs(urlsplit(headers["location"][0]).query)
        if "code" not in query:
            raise HTTPError(f"authorize: no code in {headers['location'][0]}")
        return query["code"][0]

    async def token(self, code: str, verifier: str) -> dict:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.job["redirect_uri"],
            "code_verifier": verifier,
        }
        _, body = await self._call("token", "POST", "/api/v2/oauth/token", body=form, basic=True)
        token = json.loads(body)
        if "access_token" not in token:
            raise HTTPError("token: no access_token")
        return token

    async def full(self, session: str | None = None, allow_consent: bool = False) -> tuple[dict, str]:
        """authorize → (login) → authorize → code → token. Returns (token response, session cookie)."""
        verifier, challenge = _pkce()
        path = self._authorize_path(challenge)
        if session is None:
            headers, _ = await self._call("authorize (signed out)", "GET", path, expect=303)
            return_to = parse_qs(urlsplit(headers["location"][0]).query)["return_to"][0]
            session = await self.login(return_to)
            path = return_to
        code = await self.code(session, path, allow_consent)
        return await self.token(code, verifier), session


async def prime(job: dict) -> dict:
    """One flow that answers the consent page (so later flows find consent remembered).

    Returns the tokens and the signed-in session cookie for the SSO flows.
    """
    conn = await Connection.open(job["host"], job["port"])
    try:
        token, session = await Flow(job, conn).full(allow_consent=True)
    finally:
        conn.close()
    return {"token": token, "session": session}


async def flows(job: dict) -> dict:
    """Closed loop: `concurrency` browsers, each doing flows back to back for `seconds`."""
    loop = asyncio.get_running_loop()
    seconds, concurrency, sso = float(job["seconds"]), int(job["concurrency"]), bool(job.get("sso"))
    durations: list[float] = []
    errors: dict[str, int] = {}
    requests = 0
    end = loop.time() + seconds

    async def browser():
        nonlocal requests
        conn = await Connection.open(job["host"], job["port"])
        flow = Flow(job, conn)
        while loop.time() < end:
            started = loop.time()
            try:
                await flow.full(session=job["session"] if sso else None)
            except (HTTPError, OSError, asyncio.IncompleteReadError, AttributeError, KeyError) as error:
                key = str(error).split(":", 1)[0]
                errors[key] = errors.get(key, 0) + 1
                conn.close()
                conn = await Connection.open(job["host"], job["port"])
                flow = Flow(job, conn)
                continue
            durations.append(loop.time() - started)
            requests += 2 if sso else 5
        conn.close()

    started = loop.time()
    cpu_before = time.process_time()
    await asyncio.gather(*(browser() for _ in range(concurrency)))
    elapsed = loop.time() - started
    return {
        "flows": len(durations),
        "flows_per_second": len(durations) / elapsed,
        "requests_per_second": requests / elapsed,
        "elapsed": elapsed,
        "errors": errors,
        "latency": percentiles(durations),
        "generator_cpu_share": (time.process_time() - cpu_before) / elapsed,
    }


def main() -> None:
    job = json.load(sys.stdin)
    try:
        from uvloop import run
    except ImportError:
        run = asyncio.run
    handler = {"fixed_rate": fixed_rate, "flows": flows, "prime": prime}[job["kind"]]
    print(json.dumps(run(handler(job))))


if __name__ == "__main__":
    main()
