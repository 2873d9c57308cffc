"""Every path the server answers, by name: the one place a URL path is written.

Routers declare their routes with these, discovery publishes them, pages
link to them, and the middleware picks limits by them. Plain data with no
imports, so any layer may read it (oauth.metadata builds the endpoint URLs
from it, oauth.admin_resource the admin API's audience).
"""

OAUTH = "/api/v2/oauth"
ADMIN_API = "/api/v2/admin"
ADMIN_PORTAL = "/admin"

AUTHORIZE = f"{OAUTH}/authorize"
CONSENT = "/consent"
TOKEN = f"{OAUTH}/token"
INTROSPECT = f"{OAUTH}/introspect"
REVOKE = f"{OAUTH}/revoke"
USERINFO = f"{OAUTH}/userinfo"
END_SESSION = f"{OAUTH}/logout"

JWKS = "/jwks.json"
OPENID_CONFIGURATION = "/.well-known/openid-configuration"
OAUTH_METADATA = "/.well-known/oauth-authorization-server"

HOME = "/"
STATIC = "/static"
LOGIN = "/login"
LOGOUT = "/logout"

HEALTH = "/health"
HEALTH_LIVE = "/health/live"
HEALTH_READY = "/health/ready"

# Machines call these thousands of times a second: web.hot_routes serves them without FastAPI's routing.
HOT = frozenset({TOKEN, INTROSPECT, REVOKE, JWKS})
# Requests under these get the admin body limit (web.middleware.BodyLimit).
ADMIN_PREFIXES = (ADMIN_API, ADMIN_PORTAL)

# The admin portal's pages (web/admin/portal.py), under ADMIN_PORTAL.
PORTAL_HOME = f"{ADMIN_PORTAL}/"
PORTAL_STYLESHEET = f"{ADMIN_PORTAL}/admin.css"
PORTAL_REAUTHENTICATE = f"{ADMIN_PORTAL}/reauthenticate"
PORTAL_USERS = f"{ADMIN_PORTAL}/users"
PORTAL_CLIENTS = f"{ADMIN_PORTAL}/clients"
PORTAL_AUDIT = f"{ADMIN_PORTAL}/audit"
