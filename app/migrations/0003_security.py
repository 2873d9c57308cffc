"""The security review's schema (issue 8): admin clients, consent per redirect
URI, the session idle timeout, and user ids (OIDC subjects) that never come back.

- clients.is_admin: only an admin client may ask for the `admin` scope, whose
  tokens are the only ones the admin API accepts. Existing clients are not
  admin clients; `gatehouse create-client --admin-client` (the role's
  bootstrap) or an admin marks one.
- consents.redirect_uri_digest: a remembered consent holds for the redirect
  URI the user saw. Consents given before it named no URI, so they are
  dropped: each user is asked once more.
- sessions.last_seen_at: for SESSION_IDLE_TIMEOUT.
- users.username_skeleton: SHA-256 of each username's TR39 skeleton, so a new
  username confusable with an existing one is refused. Filled here from the
  usernames; existing confusable pairs stay (the index is not unique), new
  ones are refused. The skeleton follows the confusables data shipped with
  the package (gatehouse/data/confusables.txt): a newer data file needs a
  migration that recomputes the column.
- users.email_key: e-mail addresses are told apart by NFKC + casefold, unique
  and binary-collated, on every backend (SQLite compared them byte for byte,
  MariaDB's _ci collation ignored case and accents too); the unique index on
  users.email goes. A database where two addresses share a key is refused
  first, changing nothing, with the users named.
- users.id on SQLite becomes AUTOINCREMENT: without it SQLite gives a deleted
  user's id, and so their `sub`, to the next user created (OIDC Core §2 says
  a subject is never reassigned). The sequence starts above every id any
  table still names. MariaDB/MySQL (InnoDB) never reuse AUTO_INCREMENT values.

MySQL's DDL is not transactional, so each step looks at the schema first: a
run that stopped half way is finished by the next one.
"""

import hashlib
import re
import unicodedata
from collections import defaultdict

import peewee
from gatehouse.db import is_mysql
from gatehouse.migrate import MigrationError
from gatehouse.username_policy import username_skeleton
from playhouse.migrate import SqliteMigrator

OLD_CONSENT_INDEX = ("user_id", "client_id", "scope")
NEW_CONSENT_INDEX = ["user_id", "client_id", "scope", "redirect_uri_digest"]
CONSENT_INDEX_NAME = "consents_user_id_client_id_scope_redirect_uri_digest"


EMAIL_KEY_TYPE = "VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"


def email_key(email: str) -> str:
    # gatehouse.users.email_key as of this migration, frozen.
    return unicodedata.normalize("NFKC", email).casefold()


def up(db):
    refuse_colliding_emails(db)
    columns = {table: {c.name for c in db.get_columns(table)} for table in ("clients", "consents", "sessions", "users")}
    sqlite = None if is_mysql() else SqliteMigrator(db)
    add = [
        ("clients", "is_admin", peewee.BooleanField(default=False), "TINYINT(1) NOT NULL DEFAULT 0"),
        (
            "consents",
            "redirect_uri_digest",
            peewee.CharField(max_length=64, default=""),
            "VARCHAR(64) NOT NULL DEFAULT ''",
        ),
        ("sessions", "last_seen_at", peewee.BigIntegerField(null=True), "BIGINT NULL"),
        ("users", "username_skeleton", peewee.CharField(max_length=64, default=""), "CHAR(64) NOT NULL DEFAULT ''"),
        ("users", "email_key", peewee.CharField(max_length=254, null=True), f"{EMAIL_KEY_TYPE} NULL"),
    ]
    for table, column, field, mysql_type in add:
        if column in columns[table]:
            continue
        if table == "consents":
            # Consents given before named no redirect URI: ask again rather than guess.
            db.execute_sql("DELETE FROM consents")
        if sqlite:
            sqlite.add_column(table, column, field).run()
        else:
            db.execute_sql(f"ALTER TABLE {table} ADD COLUMN {column} {mysql_type}")
    _consent_index(db, sqlite)
    _fill_username_skeletons(db, sqlite)
    _email_key_replaces_email_index(db, sqlite)
    if sqlite:
        _sqlite_users_autoincrement(db)


def refuse_colliding_emails(db) -> None:
    users = peewee.Table("users", ("id", "username", "email")).bind(db)
    owners = defaultdict(list)
    for user_id, username, email in users.select(users.id, users.username, users.email).tuples():
        if email is not None:
            owners[email_key(email)].append(f"{email!r} ({username!r}, id {user_id})")
    clashes = ["; ".join(names) for names in owners.values() if len(names) > 1]
    if clashes:
        raise MigrationError(
            "0003_security changed nothing: e-mail addresses that are one once case is folded: "
            + " | ".join(clashes)
            + ". Change or clear (NULL) all but one of each group in users.email, then run `gatehouse migrate` again."
        )


def _email_key_replaces_email_index(db, sqlite) -> None:
    users = peewee.Table("users", ("id", "email", "email_key")).bind(db)
    for user_id, email in (
        users.select(users.id, users.email).where(users.email.is_null(False) & users.email_key.is_null()).tuples()
    ):
        users.update(email_key=email_key(email)).where(users.id == user_id).execute()
    indexes = db.get_indexes("users")
    old = [i.name for i in indexes if i.unique and i.columns == ["email"]]
    needs_index = not any(i.unique and i.columns == ["email_key"] for i in indexes)
    if sqlite:
        for name in old:
            sqlite.drop_index("users", name).run()
        if needs_index:
            sqlite.add_index("users", ("email_key",), unique=True).run()
        return
    changes = ["ADD UNIQUE INDEX users_email_key (email_key)"] if needs_index else []
    changes += [f"DROP INDEX `{name}`" for name in old]
    if changes:
        db.execute_sql("ALTER TABLE users " + ", ".join(changes))


def _fill_username_skeletons(db, sqlite) -> None:
    users = peewee.Table("users", ("id", "username", "username_skeleton")).bind(db)
    rows = list(users.select(users.id, users.username).where(users.username_skeleton == "").tuples())
    for user_id, username in rows:
        value = hashlib.sha256(username_skeleton(username).encode("utf-8")).hexdigest()
        users.update(username_skeleton=value).where(users.id == user_id).execute()
    if not any(i.columns == ["username_skeleton"] for i in db.get_indexes("users")):
        if sqlite:
            sqlite.add_index("users", ("username_skeleton",), unique=False).run()
        else:
            db.execute_sql("ALTER TABLE users ADD INDEX users_username_skeleton (username_skeleton)")


def _consent_index(db, sqlite) -> None:
    indexes = db.get_indexes("consents")
    if any(i.unique and i.columns == NEW_CONSENT_INDEX for i in indexes):
        old = []
    else:
        old = [i.name for i in indexes if i.unique and tuple(i.columns) == OLD_CONSENT_INDEX]
    if sqlite:
        for name in old:
            sqlite.drop_index("consents", name).run()
        if not any(i.unique and i.columns == NEW_CONSENT_INDEX for i in indexes):
            sqlite.add_index("consents", NEW_CONSENT_INDEX, unique=True).run()
        return
    changes = []
    if not any(i.unique and i.columns == NEW_CONSENT_INDEX for i in indexes):
        changes.append(f"ADD UNIQUE INDEX {CONSENT_INDEX_NAME} ({', '.join(NEW_CONSENT_INDEX)})")
    changes += [f"DROP INDEX `{name}`" for name in old]
    if changes:
        db.execute_sql("ALTER TABLE consents " + ", ".join(changes))


# Tables whose rows name a user id; the sequence starts above all of them, so a
# user deleted before this migration does not hand their id on either.
USER_ID_COLUMNS = (
    ("users", "id"),
    ("grants", "user_id"),
    ("refresh_tokens", "user_id"),
    ("authorization_codes", "user_id"),
    ("consents", "user_id"),
    ("sessions", "user_id"),
)


def _sqlite_users_autoincrement(db) -> None:
    sql = db.execute_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'users'").fetchone()[0]
    if "AUTOINCREMENT" not in sql.upper():
        rebuilt, count = re.subn(
            r'"id" INTEGER NOT NULL PRIMARY KEY', '"id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT', sql, count=1
        )
        if count != 1:
            raise MigrationError(f"0003_security changed nothing: unexpected users table: {sql}")
        indexes = [
            row[0]
            for row in db.execute_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'users' AND sql IS NOT NULL"
            ).fetchall()
        ]
        db.execute_sql(rebuilt.replace('CREATE TABLE "users"', 'CREATE TABLE "users_0003"', 1))
        db.execute_sql('INSERT INTO "users_0003" SELECT * FROM "users"')
        db.execute_sql('DROP TABLE "users"')
        db.execute_sql('ALTER TABLE "users_0003" RENAME TO "users"')
        for index in indexes:
            db.execute_sql(index)
    highest = 0
    for table, column in USER_ID_COLUMNS:
        value = db.execute_sql(f'SELECT MAX("{column}") FROM "{table}"').fetchone()[0]  # noqa: S608 (constants above)
        highest = max(highest, int(value or 0))
    # Audit rows keep the subject of every user event, deleted users' included.
    for (subject,) in db.execute_sql(
        "SELECT subject FROM audit_logs WHERE event LIKE 'user.%' AND subject IS NOT NULL"
    ).fetchall():
        if subject.isdigit() and len(subject) < 12:
            highest = max(highest, int(subject))
    current = db.execute_sql("SELECT seq FROM sqlite_sequence WHERE name = 'users'").fetchone()
    if current is None:
        db.execute_sql("INSERT INTO sqlite_sequence (name, seq) VALUES ('users', ?)", (highest,))
    elif current[0] < highest:
        db.execute_sql("UPDATE sqlite_sequence SET seq = ? WHERE name = 'users'", (highest,))
