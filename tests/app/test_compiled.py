"""Compiled statements (gatehouse.compiled): the same rows as peewee's own query, on either database."""

from __future__ import annotations

import pytest
from conftest import BACKEND
from gatehouse.accounts.users import username_key
from gatehouse.store.models import User
from gatehouse.store.statements import Compiled

_USER_BY_NAME = Compiled(
    lambda username: (
        User.select(User.id, User.username, User.email, User.is_active, User.updated_at)
        .where(User.username == username)
        .tuples()
    ),
    arity=1,
)


def _make_user(username: str, **fields) -> User:
    values = {"password_hash": "x", "created_at": 1, "updated_at": 9_007_199_254_740_993, **fields}
    return User.create(username=username, username_key=username_key(username), **values)


@pytest.mark.parametrize(
    "username, fields",
    [
        ("plain", {"email": None, "is_active": True}),
        ('quote"back\\slash', {"email": "q@example.test", "is_active": False}),
        ("ünïcødé-名前-🔑", {"email": "ü@example.test", "is_active": True}),
    ],
)
def test_compiled_tuples_equal_peeweee_own_rows(state, username, fields):
    _make_user(username, **fields)
    expected = list(
        User.select(User.id, User.username, User.email, User.is_active, User.updated_at)
        .where(User.username == username)
        .tuples()
    )
    assert _USER_BY_NAME.rows(username) == expected
    assert _USER_BY_NAME.first(username) == expected[0]
    # Types survive: a boolean stays a bool and a 64-bit integer is not rounded through a float.
    assert type(expected[0][3]) is bool and expected[0][4] == 9_007_199_254_740_993


def test_compiled_select_with_no_match_gives_none(state):
    assert _USER_BY_NAME.first("nobody") is None
    assert _USER_BY_NAME.rows("nobody") == []


@pytest.mark.skipif(BACKEND != "mysql", reason="packing is for MySQL/MariaDB, whose column definitions PyMySQL parses")
def test_compiled_tuples_travel_as_one_json_column_on_mysql(state):
    _make_user("packed")
    _USER_BY_NAME.first("packed")
    assert _USER_BY_NAME._sql.startswith("SELECT JSON_ARRAY(")
