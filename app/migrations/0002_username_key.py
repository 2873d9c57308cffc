"""Usernames are told apart by a key (NFKC, then casefold), the same on every backend.

Before, the database decided: MariaDB's *_ci collation made 'ALICE' sign in
as 'alice' and refused 'José' beside 'jose', while SQLite let 'Alice' and
'alice' be two users. This adds users.username_key, filled from each
username, NOT NULL and unique (on MySQL/MariaDB in utf8mb4_bin: the key is
folded already, and a _ci collation would ignore accents), and drops the
unique index on users.username, which the key's index makes redundant.

MySQL's DDL is not transactional, so everything that can refuse is checked
before the first change, and each step looks at the schema first: a run
that stopped half way is finished by the next one.
"""

import unicodedata
from collections import defaultdict

import peewee
from gatehouse.db import is_mysql
from gatehouse.migrate import MigrationError
from playhouse.migrate import SqliteMigrator

KEY_MAX = 150
KEY_INDEX = "users_username_key"  # the name peewee gives the model's index
MYSQL_KEY_TYPE = "VARCHAR(150) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
BATCH = 500


def key(username: str) -> str:
    # gatehouse.users.username_key as of this migration, frozen: a later
    # change to the rule needs a migration of its own to recompute the keys.
    return unicodedata.normalize("NFKC", username).casefold()


def up(db):
    users = peewee.Table("users", ("id", "username", "username_key")).bind(db)
    refuse_colliding_or_long_usernames(users.select(users.id, users.username).tuples())
    columns = {column.name: column for column in db.get_columns("users")}
    sqlite = None if is_mysql() else SqliteMigrator(db)
    if "username_key" not in columns:
        if sqlite:
            sqlite.add_column("users", "username_key", peewee.CharField(max_length=KEY_MAX, null=True)).run()
        else:
            db.execute_sql(f"ALTER TABLE users ADD COLUMN username_key {MYSQL_KEY_TYPE} NULL")
    backfill(users)
    indexes = db.get_indexes("users")
    old = [i.name for i in indexes if i.unique and i.columns == ["username"]]
    needs_index = not any(i.unique and i.columns == ["username_key"] for i in indexes)
    needs_not_null = "username_key" not in columns or columns["username_key"].null
    if sqlite:
        for name in old:  # before add_not_null, which rebuilds the table with its indexes
            sqlite.drop_index("users", name).run()
        if needs_not_null:
            sqlite.add_not_null("users", "username_key").run()
        if needs_index:
            sqlite.add_index("users", ("username_key",), unique=True).run()
        return
    # One ALTER, so that the old index goes only if the new one could be made.
    changes = [f"MODIFY username_key {MYSQL_KEY_TYPE} NOT NULL"] if needs_not_null else []
    changes += [f"ADD UNIQUE INDEX {KEY_INDEX} (username_key)"] if needs_index else []
    changes += [f"DROP INDEX `{name}`" for name in old]
    if changes:
        db.execute_sql("ALTER TABLE users " + ", ".join(changes))


def refuse_colliding_or_long_usernames(rows) -> None:
    """Usernames that would share a key, or whose key is too long, stop the migration before it changes anything."""
    owners = defaultdict(list)
    for user_id, username in rows:
        owners[key(username)].append(f"{username!r} (id {user_id})")
    problems = []
    clashes = ["; ".join(names) for names in owners.values() if len(names) > 1]
    if clashes:
        problems.append("usernames that are one user once case is folded: " + " | ".join(clashes))
    too_long = [name for k, names in owners.items() if len(k) > KEY_MAX for name in names]
    if too_long:
        problems.append(f"usernames longer than {KEY_MAX} characters once case is folded: " + "; ".join(too_long))
    if problems:
        raise MigrationError(
            "0002_username_key changed nothing: "
            + ". ".join(problems)
            + ". Rename each user but one of every group (and shorten the long ones) in users.username,"
            " then run `gatehouse migrate` again."
        )


def backfill(users) -> None:
    """Set the key of every row still without one, BATCH rows per UPDATE."""
    pending = list(users.select(users.id, users.username).where(users.username_key.is_null()).tuples())
    for start in range(0, len(pending), BATCH):
        batch = pending[start : start + BATCH]
        keys = peewee.Case(users.id, [(user_id, key(username)) for user_id, username in batch])
        users.update(username_key=keys).where(users.id.in_([user_id for user_id, _ in batch])).execute()
