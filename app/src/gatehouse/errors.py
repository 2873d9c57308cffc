"""One error family for the command line, the API and the portal.

Domain code raises these and never builds a response: web/errors.py is the
one place that turns them into HTTP answers (a JSON body for the API, a
page for the portal), and the command line prints the message and exits 1.
`status` and `error` are what the HTTP answer carries; `field` names the
input that was wrong, when one was.

OAuth protocol errors (RFC 6749 §5.2) stay Authlib's OAuth2Error: their
bodies and status codes are fixed by the specifications.
"""

from __future__ import annotations


def error_body(error: str, description: str, field: str | None = None) -> dict:
    """The JSON body of every error answer: RFC 6749 §5.2's two members, and the input at fault."""
    body = {"error": error, "error_description": description}
    if field:
        body["field"] = field
    return body


class GatehouseError(Exception):
    status = 400
    error = "invalid_request"
    # A refusal about a bearer credential carries RFC 6750's challenge (web.errors builds it):
    # None no challenge, "" one without an error code (no credentials sent), else the code.
    challenge: str | None = None
    challenge_describes = False

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field

    def as_dict(self) -> dict:
        return error_body(self.error, self.message, self.field)


class Invalid(GatehouseError, ValueError):
    """Bad input: the message names what was wrong, and nothing was changed."""


class NotFound(GatehouseError):
    status = 404
    error = "not_found"


class Conflict(GatehouseError):
    status = 409
    error = "conflict"


class Unauthenticated(GatehouseError):
    """No valid credential: 401 with a Bearer challenge (RFC 6750 §3), which carries an error code
    and this message only when the request carried credentials (§3.1)."""

    status = 401
    challenge_describes = True

    def __init__(self, message: str, error: str | None = None):
        super().__init__(message)
        self.error = error or "unauthorized"
        self.challenge = error or ""


class Forbidden(GatehouseError):
    """The credential is valid but does not allow this: a permission the caller lacks, a token for
    something else, a missing CSRF token. insufficient_scope carries the Bearer challenge (RFC 6750 §3.1)."""

    status = 403

    def __init__(self, message: str, error: str = "insufficient_scope"):
        super().__init__(message)
        self.error = error
        if error == "insufficient_scope":
            self.challenge = error


class NotAllowed(GatehouseError):
    """The actor is authenticated and holds the route's permission, but the change would escalate."""

    status = 403
    error = "access_denied"


class ReauthenticationRequired(GatehouseError):
    """A sensitive change by a session whose sign-in is older than REAUTHENTICATE_AFTER (ASVS 7.5):
    the operator enters their password again (the portal asks; POST /admin/reauthenticate)."""

    status = 403
    error = "reauthentication_required"


class ConfigError(Invalid):
    """A configuration value is missing or invalid; the message names it."""


class Unavailable(GatehouseError, RuntimeError):
    """The server cannot serve yet: its keys or its schema are not in place; the message says what to do."""

    status = 503
    error = "temporarily_unavailable"


class KeySetError(Unavailable):
    """The key set is missing or unusable."""


class MigrationError(Unavailable):
    """A migration could not run, or the schema is not the one this version needs."""
