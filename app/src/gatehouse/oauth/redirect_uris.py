"""Redirect URIs parsed strictly, so that this server and the browser agree on where one leads.

Python's urlsplit and a browser's WHATWG URL parser read some strings
differently: a browser takes `\\` for `/` in http(s) URLs, drops tabs and
newlines, percent-decodes and IDNA-maps the host, reads `127.1`, `0x7f.0.0.1`
or `2130706433` as 127.0.0.1, and so on. A redirect URI checked by one
parser and followed by the other can then lead somewhere else, e.g.
`http://evil.example:7777\\@127.0.0.1:9999/cb` is 127.0.0.1 to urlsplit and
evil.example to a browser. So a redirect URI is accepted only when it is
an absolute URI by RFC 3986's grammar (§3, §4.3) and already in the form a
browser would write it back in, where the two parsers cannot disagree:

- ASCII only; no whitespace or control character, no backslash, no
  fragment (`#`, RFC 6749 §3.1.2), no userinfo (`@` in the authority);
- lowercase scheme and host; the host a DNS name (letters, digits and
  hyphens, no empty label, so no trailing dot, and not ending in a numeric
  label), an IPv4 address as four decimal numbers without leading zeros,
  or a bracketed IPv6 address in its canonical compressed form (no zone
  id, no IPvFuture); no percent-encoding in the host;
- a port of digits, 1-65535, without leading zeros, not empty, and not the
  scheme's default;
- path and query of RFC 3986 characters, `%` always followed by two hex
  digits and never encoding a control character (%00-%1F, %7F: never
  needed in a callback, and stacks that decode them before routing get
  NUL truncation, header or log injection); no `.` or `..` path segment,
  plain or percent-encoded (a browser resolves them); http(s) URIs have
  `//`, a host and a path (at least `/`), and `'` in their query written
  `%27`.

So every accepted URI is its own WHATWG serialization, with the same host
and port to a browser, to urlsplit and here (tests/app/test_redirect_uris.py
checks this against Node's URL).

Matching (OAuth 2.1 §4.1.1, RFC 8252 §7.3): exact string comparison; only a
registered `http` URI on a loopback IP literal (127.0.0.1 or [::1]) accepts a
presented URI that differs in its port alone. `localhost` gets no such
exception: it is a name, which a resolver may map anywhere.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

MAX_LENGTH = 2000
# The loopback interface as a URI's host writes it (RFC 3986 §3.2.2: an IPv6 literal in brackets).
# The IP literals get the port exception (RFC 8252 §7.3); `localhost` (§8.3) only plain http. The
# issuer (settings) may be plain http on any of them too.
LOOPBACK_LITERALS = frozenset({"127.0.0.1", "[::1]"})
LOOPBACK_HOSTS = LOOPBACK_LITERALS | {"localhost"}
DEFAULT_PORTS = {"http": 80, "https": 443}

_PCT = r"%[0-9A-Fa-f]{2}"
_PCHAR = rf"(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|{_PCT})"
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_PATH_ABEMPTY = re.compile(rf"(?:/{_PCHAR}*)*")
_PATH_NO_AUTHORITY = re.compile(rf"/?(?:{_PCHAR}+(?:/{_PCHAR}*)*)?")  # absolute, rootless or empty
_QUERY = re.compile(rf"(?:{_PCHAR}|[/?])*")
_ENCODED_CONTROL = re.compile(r"%(?:[01][0-9A-Fa-f]|7[Ff])")
_DOT_SEGMENT = re.compile(r"(?:\.|%2[Ee]){1,2}")
_PORT = re.compile(r"[1-9][0-9]{0,4}")
_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0[xX][0-9A-Fa-f]*")  # what WHATWG would parse as an IPv4 part
_IPV4_PART = re.compile(r"0|[1-9][0-9]{0,2}")


class RedirectURIError(ValueError):
    """Why a string is not an acceptable redirect URI (the message completes "redirect URI '...' ")."""


@dataclass(frozen=True)
class RedirectURI:
    scheme: str
    host: str | None  # None without an authority; an IPv6 address keeps its brackets
    port: int | None
    path: str
    query: str | None  # None without "?"


def parse(uri) -> RedirectURI:
    """The parts of `uri`, or RedirectURIError if it is not strictly valid (see the module's docstring)."""
    if not isinstance(uri, str):
        raise RedirectURIError("is not a string")
    if not uri:
        raise RedirectURIError("is empty")
    if len(uri) > MAX_LENGTH:
        raise RedirectURIError(f"is longer than {MAX_LENGTH} characters")
    if not uri.isascii():
        raise RedirectURIError("must be ASCII only (no Unicode characters)")
    if any(c <= " " or c == "\x7f" for c in uri):
        raise RedirectURIError("must not contain whitespace or control characters")
    if "\\" in uri:
        raise RedirectURIError("must not contain a backslash")
    if "#" in uri:
        raise RedirectURIError("must not have a fragment ('#')")
    scheme_match = _SCHEME.match(uri)
    if scheme_match is None or uri[scheme_match.end() : scheme_match.end() + 1] != ":":
        raise RedirectURIError("is not an absolute URI (no scheme)")
    scheme = scheme_match.group()
    if scheme != scheme.lower():
        raise RedirectURIError("must have a lowercase scheme")
    rest, question, query = uri[len(scheme) + 1 :].partition("?")
    host = port = None
    if rest.startswith("//"):
        authority, slash, path = rest[2:].partition("/")
        path = slash + path
        host, port = _authority(scheme, authority)
        if scheme in DEFAULT_PORTS and not host:
            # https:///evil.example/ is https://evil.example/ to a browser.
            raise RedirectURIError(f"must have '//' and a host after '{scheme}:'")
        if not _PATH_ABEMPTY.fullmatch(path):
            raise RedirectURIError("has a character in its path that RFC 3986 does not allow there")
        if scheme in DEFAULT_PORTS and not path:
            raise RedirectURIError("must have a path (at least '/')")
    elif scheme in DEFAULT_PORTS:
        # A browser reads http:host/, http:/host/ alike as http://host/.
        raise RedirectURIError(f"must have '//' and a host after '{scheme}:'")
    else:
        path = rest
        if not _PATH_NO_AUTHORITY.fullmatch(path):
            raise RedirectURIError("has a character in its path that RFC 3986 does not allow there")
    if any(_DOT_SEGMENT.fullmatch(segment) for segment in path.split("/")):
        raise RedirectURIError("must not have '.' or '..' path segments")
    if question and not _QUERY.fullmatch(query):
        raise RedirectURIError("has a character in its query that RFC 3986 does not allow there")
    if question and scheme in DEFAULT_PORTS and "'" in query:
        raise RedirectURIError("must write ' in its query as %27, as a browser does")
    if _ENCODED_CONTROL.search(path) or (question and _ENCODED_CONTROL.search(query)):
        raise RedirectURIError("must not percent-encode a control character")
    return RedirectURI(scheme, host, port, path, query if question else None)


def _authority(scheme: str, authority: str) -> tuple[str, int | None]:
    if "@" in authority:
        raise RedirectURIError("must not have userinfo ('@' before the host)")
    if authority.startswith("["):
        end = authority.find("]") + 1
        if end == 0:
            raise RedirectURIError("has an unclosed '[' in its host")
        host, after = authority[:end], authority[end:]
    else:
        host, colon, port_text = authority.partition(":")
        after = colon + port_text
    port = None
    if after and not host:
        raise RedirectURIError("must have a host before its port")
    if after:
        if not after.startswith(":"):
            raise RedirectURIError("has something other than a port after its IPv6 address")
        port_text = after[1:]
        if not _PORT.fullmatch(port_text) or int(port_text) > 65535:
            raise RedirectURIError("must have a port of 1-65535 written in digits without leading zeros, or none")
        port = int(port_text)
        if port == DEFAULT_PORTS.get(scheme):
            raise RedirectURIError(f"must not name the default port {port} of {scheme}")
    _check_host(host)
    return host, port


def _check_host(host: str) -> None:
    if not host:
        return  # refused for http(s) by parse(); RFC 3986 allows it otherwise (com.example.app:///cb)
    if "%" in host:
        raise RedirectURIError("must not percent-encode anything in its host (nor have an IPv6 zone id)")
    if host != host.lower():
        raise RedirectURIError("must have a lowercase host")
    if host.startswith("["):
        literal = host[1:-1]
        try:
            canonical = ipaddress.IPv6Address(literal).compressed if re.fullmatch(r"[0-9a-f:]+", literal) else None
        except ValueError:
            canonical = None
        if canonical != literal:
            raise RedirectURIError("must write an IPv6 host in its canonical compressed form, e.g. [::1]")
        return
    labels = host.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        # A browser reads such a host as an IPv4 address (127.1, 0x7f.0.0.1, 2130706433, 0177.0.0.1...):
        # only the one spelling both parsers agree on is accepted.
        if len(labels) != 4 or not all(_IPV4_PART.fullmatch(p) and int(p) <= 255 for p in labels):
            raise RedirectURIError("must write an IPv4 host as four decimal numbers 0-255 without leading zeros")
        return
    if "" in labels:
        raise RedirectURIError("must not have an empty label (or a trailing dot) in its host")
    if len(host) > 253 or not all(_DNS_LABEL.fullmatch(label) for label in labels):
        raise RedirectURIError("must have a host name of letters, digits and hyphens (or an IP address)")


def check(uri) -> RedirectURI:
    """parse(), and a kind of redirect URI this server accepts at all: https, http on loopback
    (RFC 8252 §7.3), or a native app's reverse-DNS private-use scheme (RFC 8252 §7.1)."""
    parts = parse(uri)
    if parts.scheme == "https" and parts.host:
        return parts
    if parts.scheme == "http" and parts.host in LOOPBACK_HOSTS:
        return parts
    if parts.scheme not in DEFAULT_PORTS and "." in parts.scheme:
        return parts
    raise RedirectURIError("must be https, http on 127.0.0.1, [::1] or localhost, or a reverse-DNS private scheme")


def is_loopback_hostname(hostname: str | None) -> bool:
    """Whether a host as urlsplit().hostname gives it (lowercase, an IPv6 address without its brackets)
    is one of LOOPBACK_HOSTS."""
    if hostname and ":" in hostname:
        hostname = f"[{hostname}]"
    return hostname in LOOPBACK_HOSTS


def is_valid(uri) -> bool:
    try:
        check(uri)
    except RedirectURIError:
        return False
    return True


def matches(registered: str, presented) -> bool:
    """Whether `presented` may stand for `registered`: the same string, or, for an http URI
    registered on a loopback IP literal, the same but for the port (RFC 8252 §7.3).
    Both must pass check(): a URI registered before these rules, or otherwise invalid, matches nothing."""
    try:
        pres = check(presented)
        reg = check(registered)
    except RedirectURIError:
        return False
    if registered == presented:
        return True
    if reg.scheme != "http" or reg.host not in LOOPBACK_LITERALS:
        return False
    return pres.port is not None and (pres.scheme, pres.host, pres.path, pres.query) == (
        reg.scheme,
        reg.host,
        reg.path,
        reg.query,
    )
