"""Version 1 of the schema: every table of the first release.

Later migrations change the schema with playhouse.migrate operations (or
SQL) and never edit what this file creates. Where a model has changed since
version 1 its version-1 definition is frozen here (User: 0002 added
username_key), so that a new database passes through the same states as an
upgraded one; the other tables are still created from the models, which
equal version 1 for them. A migration that changes another model freezes
its version-1 definition here first.
"""

import peewee
from gatehouse.db import database
from gatehouse.models import ALL_MODELS, User


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


def up(db):
    # The order db.create_tables(ALL_MODELS) used (users before user_roles,
    # which MySQL needs for the foreign key), with version 1's users.
    for model in peewee.sort_models(ALL_MODELS):
        (UserV1 if model is User else model).create_table(safe=True)
