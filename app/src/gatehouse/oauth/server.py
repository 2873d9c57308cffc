"""The authorization server (RFC 6749): Authlib's AuthorizationServer bound to Starlette requests and Gatehouse storage.

It registers the grants (oauth.grants), looks clients up (oauth.clients),
answers with this server's issuer (RFC 9207), and turns request values
that Authlib would choke on into OAuth errors rather than 500s.
"""

from __future__ import annotations

from collections import defaultdict

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import AuthorizationServer, OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidClientError, OAuth2Error

from gatehouse.oauth.capabilities import SCOPES_SUPPORTED
from gatehouse.oauth.clients import ClientCache
from gatehouse.oauth.grants import AuthorizationCodeGrant, ClientCredentialsGrant, RefreshTokenGrant, S256CodeChallenge
from gatehouse.oauth.issuance import TokenService
from gatehouse.runtime import metrics
from gatehouse.runtime.ratelimit import Limiter
from gatehouse.settings import Settings


def error_text(text: str) -> str:
    """Only the characters RFC 6749 §4.1.2.1 (and RFC 6750 §3) allow in error_description."""
    return "".join(c if 0x20 <= ord(c) <= 0x7E and c not in '"\\' else "?" for c in text)


def _sanitizing_error_init(init):
    def __init__(self, description=None, *args, **kwargs):
        if isinstance(description, str):
            description = error_text(description)
        init(self, description, *args, **kwargs)

    return __init__


# Authlib raises ValueError for an error description with a character RFC 6749
# forbids, yet quotes request values in some of its own (response_type,
# redirect_uri, a repeated parameter's name): a quote or a non-ASCII letter
# there would turn a bad request into a 500. Replace such characters instead.
OAuth2Error.__init__ = _sanitizing_error_init(OAuth2Error.__init__)


class FormPayload(OAuth2Payload):
    def __init__(self, items: list[tuple[str, str]]):
        self._datalist: defaultdict[str, list] = defaultdict(list)
        for key, value in items:
            self._datalist[key].append(value)
        # The first value of each parameter; repeated ones are refused where
        # the RFC says so (validate_no_multiple_request_parameter).
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self):
        return self._data

    @property
    def datalist(self):
        return self._datalist


class GatehouseRequest(OAuth2Request):
    """An OAuth2Request from already-parsed Starlette parts.

    The token endpoint reads parameters from the body only; the
    authorization endpoint from the query (GET) or the form (POST).
    """

    def __init__(self, method: str, uri: str, headers, items: list[tuple[str, str]], form: dict | None = None):
        super().__init__(method=method, uri=uri, headers=headers)
        self.payload = FormPayload(items)
        self._form = form if form is not None else self.payload.data
        self.auth_time = None

    @property
    def args(self):
        return self.payload.data

    @property
    def form(self):
        return self._form


class RateLimited(OAuth2Error):
    error = "slow_down"
    status_code = 429
    description = "too many token requests for this client; retry later"

    def get_headers(self):
        return super().get_headers() + [("Retry-After", "60")]


class OAuthServer(AuthorizationServer):
    def __init__(self, settings: Settings, clients: ClientCache, tokens: TokenService, limiter: Limiter):
        super().__init__(scopes_supported=list(SCOPES_SUPPORTED))
        self.settings = settings
        self.clients = clients
        self.tokens = tokens
        self.limiter = limiter
        self.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True)])
        self.register_grant(ClientCredentialsGrant)
        self.register_grant(RefreshTokenGrant)

    def validate_requested_scope(self, scope):
        """Scopes are checked per client (ClientRecord.get_allowed_scope): each
        client registers its own API scopes beside the OIDC ones."""

    def query_client(self, client_id):
        return self.clients.get(client_id)

    def authenticate_client(self, request, methods, endpoint="token"):
        try:
            return super().authenticate_client(request, methods, endpoint)
        except (ValueError, UnicodeError):
            # Authlib's Basic parser raises these for "Basic " alone, non-ASCII
            # or non-UTF-8 credentials: a failed authentication, not a 500.
            raise InvalidClientError(status_code=401, description="malformed Basic credentials") from None

    def save_token(self, token, request):
        """Tokens are persisted as they are issued (see issuance.TokenService)."""

    def send_signal(self, name, *args, **kwargs):
        # The per-client token limit counts only requests the client has
        # authenticated: nobody can spend another client's budget by sending
        # requests with its client_id and a wrong secret.
        if name == "after_authenticate_client" and self.settings.rate_limit_enabled:
            client = kwargs["client"]
            if not self.limiter.allow_batched(f"token:{client.client_id}", self.settings.rate_limit_token_per_minute):
                metrics.rate_limited.labels("token").inc()
                raise RateLimited()

    def create_oauth2_request(self, request):
        return request

    def handle_response(self, status, body, headers):
        headers = list(headers or [])
        if status == 302:
            # RFC 9207: every authorization response names its issuer.
            headers = [
                (k, add_params_to_uri(v, [("iss", self.settings.issuer)]) if k == "Location" else v) for k, v in headers
            ]
        return status, body, headers

    def handle_error_response(self, request, error: OAuth2Error):
        if isinstance(error, InvalidClientError):
            # Always 401 with a challenge, whatever method the client tried
            # (RFC 6749 §5.2 allows it and clients then know to use Basic).
            error.status_code = 401
        return self.handle_response(*error(self.get_error_uri(request, error)))
