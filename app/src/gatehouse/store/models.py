"""Storage models. Times are integer Unix seconds: portable and cheap to compare.

Secrets never stand in the database as themselves: client secrets, codes,
refresh tokens and session ids are stored as SHA-256 digests.
"""

from __future__ import annotations

import json

import peewee

from gatehouse.store.database import database


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False


class JSONList(peewee.TextField):
    """A list stored as JSON text (works the same on SQLite and MySQL)."""

    def db_value(self, value):
        return json.dumps(list(value or []))

    def python_value(self, value):
        return json.loads(value) if value else []


class User(BaseModel):
    # Stored and shown as given; users are told apart by username_key
    # (gatehouse.users.username_key), which is what is unique.
    username = peewee.CharField(max_length=150)
    # On MySQL/MariaDB a binary collation (migration 0002): the key is folded
    # already, and a _ci collation would make 'jose' and 'josé' one user.
    username_key = peewee.CharField(max_length=150, unique=True)
    # SHA-256 of the username's TR39 skeleton (gatehouse.username_policy): a new username whose
    # skeleton matches an existing one ('aIice' beside 'alice') is refused (migration 0003).
    username_skeleton = peewee.CharField(max_length=64, index=True, default="")
    email = peewee.CharField(max_length=254, null=True)
    # What e-mail addresses are told apart by (gatehouse.users.email_key): unique, and on
    # MySQL/MariaDB binary-collated (migration 0003), so every backend compares alike.
    email_key = peewee.CharField(max_length=254, null=True, unique=True)
    name = peewee.CharField(max_length=200, null=True)
    password_hash = peewee.CharField(max_length=255)
    is_active = peewee.BooleanField(default=True)
    created_at = peewee.BigIntegerField()
    updated_at = peewee.BigIntegerField()

    class Meta:
        table_name = "users"


class Role(BaseModel):
    name = peewee.CharField(max_length=100, unique=True)
    description = peewee.CharField(max_length=255, default="")

    class Meta:
        table_name = "roles"


class Permission(BaseModel):
    name = peewee.CharField(max_length=100, unique=True)  # resource:action
    description = peewee.CharField(max_length=255, default="")

    class Meta:
        table_name = "permissions"


class UserRole(BaseModel):
    user = peewee.ForeignKeyField(User, on_delete="CASCADE", backref="user_roles")
    role = peewee.ForeignKeyField(Role, on_delete="CASCADE", backref="role_users")

    class Meta:
        table_name = "user_roles"
        indexes = ((("user", "role"), True),)


class RolePermission(BaseModel):
    role = peewee.ForeignKeyField(Role, on_delete="CASCADE", backref="role_permissions")
    permission = peewee.ForeignKeyField(Permission, on_delete="CASCADE", backref="permission_roles")

    class Meta:
        table_name = "role_permissions"
        indexes = ((("role", "permission"), True),)


class Client(BaseModel):
    client_id = peewee.CharField(max_length=100, unique=True)
    client_secret_digest = peewee.CharField(max_length=64, null=True)
    name = peewee.CharField(max_length=200)
    is_confidential = peewee.BooleanField()
    redirect_uris = JSONList(default=list)
    post_logout_redirect_uris = JSONList(default=list)
    grant_types = JSONList(default=list)
    scope = peewee.CharField(max_length=1000, default="")
    is_active = peewee.BooleanField(default=True)
    # An admin client may ask for the `admin` scope, whose tokens name the
    # admin API as their audience (gatehouse.admin_audience). Only an admin
    # may mark a client so (migration 0003).
    is_admin = peewee.BooleanField(default=False)
    created_at = peewee.BigIntegerField()
    updated_at = peewee.BigIntegerField()

    class Meta:
        table_name = "clients"


class Grant(BaseModel):
    """One authorization: every code, access and refresh token descends from one.

    Revoking the grant revokes the whole family (code reuse, refresh token
    replay, user logout of a client).
    """

    id = peewee.CharField(max_length=32, primary_key=True)
    client_id = peewee.CharField(max_length=100, index=True)
    user_id = peewee.IntegerField(index=True)
    scope = peewee.CharField(max_length=1000)
    auth_time = peewee.BigIntegerField()
    created_at = peewee.BigIntegerField()
    expires_at = peewee.BigIntegerField(index=True)
    revoked_at = peewee.BigIntegerField(null=True)

    class Meta:
        table_name = "grants"


class AuthorizationCode(BaseModel):
    code_digest = peewee.CharField(max_length=64, unique=True)
    grant_id = peewee.CharField(max_length=32)
    client_id = peewee.CharField(max_length=100)
    user_id = peewee.IntegerField()
    redirect_uri = peewee.CharField(max_length=2000)
    scope = peewee.CharField(max_length=1000)
    nonce = peewee.CharField(max_length=255, null=True)
    code_challenge = peewee.CharField(max_length=128)
    code_challenge_method = peewee.CharField(max_length=10)
    auth_time = peewee.BigIntegerField()
    expires_at = peewee.BigIntegerField(index=True)
    used_at = peewee.BigIntegerField(null=True)

    class Meta:
        table_name = "authorization_codes"

    # What Authlib's AuthorizationCodeGrant asks of a code.
    def get_redirect_uri(self):
        return self.redirect_uri or None

    def get_scope(self):
        return self.scope


class RefreshToken(BaseModel):
    token_digest = peewee.CharField(max_length=64, unique=True)
    grant_id = peewee.CharField(max_length=32, index=True)
    client_id = peewee.CharField(max_length=100)
    user_id = peewee.IntegerField()
    scope = peewee.CharField(max_length=1000)
    issued_at = peewee.BigIntegerField()
    expires_at = peewee.BigIntegerField(index=True)
    rotated_at = peewee.BigIntegerField(null=True)
    revoked_at = peewee.BigIntegerField(null=True)

    class Meta:
        table_name = "refresh_tokens"


class Revocation(BaseModel):
    """A revoked access token (by jti) or grant (by grant id), kept until it would have expired."""

    id = peewee.CharField(max_length=64, primary_key=True)
    expires_at = peewee.BigIntegerField(index=True)

    class Meta:
        table_name = "revocations"


class Consent(BaseModel):
    """A remembered "allow": for one user, client, scope set and redirect URI
    (migration 0003), so a code never goes silently to a URI the user did not see."""

    user_id = peewee.IntegerField()
    client_id = peewee.CharField(max_length=100)
    scope = peewee.CharField(max_length=1000)  # sorted, space separated
    # SHA-256 of the redirect URI the user approved (an index on the URI itself would be too long for MySQL).
    redirect_uri_digest = peewee.CharField(max_length=64, default="")
    created_at = peewee.BigIntegerField()

    class Meta:
        table_name = "consents"
        indexes = ((("user_id", "client_id", "scope", "redirect_uri_digest"), True),)


class Session(BaseModel):
    id = peewee.CharField(max_length=64, primary_key=True)  # digest of the cookie value
    user_id = peewee.IntegerField(null=True)
    csrf_token = peewee.CharField(max_length=64)
    auth_time = peewee.BigIntegerField(null=True)
    created_at = peewee.BigIntegerField()
    expires_at = peewee.BigIntegerField(index=True)
    # For the idle timeout (migration 0003); refreshed at most once a minute, not on every request.
    last_seen_at = peewee.BigIntegerField(null=True)

    class Meta:
        table_name = "sessions"


class AuditLog(BaseModel):
    created_at = peewee.BigIntegerField(index=True)
    event = peewee.CharField(max_length=64, index=True)
    actor = peewee.CharField(max_length=200, null=True)
    subject = peewee.CharField(max_length=200, null=True)
    ip = peewee.CharField(max_length=64, null=True)
    request_id = peewee.CharField(max_length=64, null=True)
    details = peewee.TextField(default="{}")

    class Meta:
        table_name = "audit_logs"


ALL_MODELS = [
    User,
    Role,
    Permission,
    UserRole,
    RolePermission,
    Client,
    Grant,
    AuthorizationCode,
    RefreshToken,
    Revocation,
    Consent,
    Session,
    AuditLog,
]
