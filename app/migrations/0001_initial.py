"""Version 1 of the schema: every table of the first release.

Later migrations change the schema with playhouse.migrate operations (or
SQL) and never edit what this file creates. Where a model has changed since
version 1 its version-1 definition is frozen here (User: 0002 added
username_key; Client, Consent and Session: 0003 added is_admin,
redirect_uri_digest and last_seen_at), so that a new database passes through the same states as an
upgraded one; the other tables are still created from the models, which
equal version 1 for them. A migration that changes another model freezes
its version-1 definition here first.
"""

import peewee
from gatehouse.db import database
from gatehouse.models import ALL_MODELS, Client, Consent, Session, User


class UserV1(peewee.Model):
    username = peewee.CharField(max_length=150, unique=True)
    email = peewee.CharField(max_length=254, null=True, unique=True)
    name = peewee.CharField(max_length=200, null=True)
    password_hash = peewee.CharField(max_length=255)
    is_active = peewee.BooleanField(default=True)
    created_at = peewee.BigIntegerField()
    updated_at = peewee.BigIntegerField()

    class Meta:  # as gatehouse.models.BaseModel's; legacy_table_names=False names the indexes users_*
        database = database
        legacy_table_names = False
        table_name = "users"


class _V1(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False


class ClientV1(_V1):
    client_id = peewee.CharField(max_length=100, unique=True)
    client_secret_digest = peewee.CharField(max_length=64, null=True)
    name = peewee.CharField(max_length=200)
    is_confidential = peewee.BooleanField()
    redirect_uris = peewee.TextField(default="[]")
    post_logout_redirect_uris = peewee.TextField(default="[]")
    grant_types = peewee.TextField(default="[]")
    scope = peewee.CharField(max_length=1000, default="")
    is_active = peewee.BooleanField(default=True)
    created_at = peewee.BigIntegerField()
    updated_at = peewee.BigIntegerField()

    class Meta:
        table_name = "clients"


class ConsentV1(_V1):
    user_id = peewee.IntegerField()
    client_id = peewee.CharField(max_length=100)
    scope = peewee.CharField(max_length=1000)
    created_at = peewee.BigIntegerField()

    class Meta:
        table_name = "consents"
        indexes = ((("user_id", "client_id", "scope"), True),)


class SessionV1(_V1):
    id = peewee.CharField(max_length=64, primary_key=True)
    user_id = peewee.IntegerField(null=True)
    csrf_token = peewee.CharField(max_length=64)
    auth_time = peewee.BigIntegerField(null=True)
    created_at = peewee.BigIntegerField()
    expires_at = peewee.BigIntegerField(index=True)

    class Meta:
        table_name = "sessions"


VERSION_1 = {User: UserV1, Client: ClientV1, Consent: ConsentV1, Session: SessionV1}


def up(db):
    # The order db.create_tables(ALL_MODELS) used (users before user_roles,
    # which MySQL needs for the foreign key), with version 1's tables.
    for model in peewee.sort_models(ALL_MODELS):
        VERSION_1.get(model, model).create_table(safe=True)
