"""Usernames: compared case-insensitively by Unicode's rules (NFKC, then
casefold: gatehouse.users.username_key), accents kept, the same on SQLite
and on MariaDB; stored and shown as they were given."""

from __future__ import annotations

import pytest
from conftest import PASSWORD, get_code, login, redeem
from gatehouse import errors
from gatehouse.accounts.users import UserError, username_key
from gatehouse.accounts.users import create_user_as_system as create_user
from gatehouse.store.models import User
from helpers import signed_in

OTHER_PASSWORD = "another long passphrase"


@pytest.mark.parametrize("typed", ["alice", "ALICE", "Alice", "ａｌｉｃｅ"])  # the last is full-width
def test_usernames_are_case_insensitive_at_sign_in(http, user, typed):
    assert login(http, username=typed).status_code == 303
    assert signed_in(user)


def test_case_is_folded_by_unicode_rules_not_just_ascii(http, state):
    strasse = create_user("Straße", PASSWORD)
    assert login(http, username="STRASSE").status_code == 303
    assert signed_in(strasse)


@pytest.mark.parametrize("twin", ["ALICE", "Alice", "ａｌｉｃｅ"])
def test_a_username_differing_only_in_case_is_refused(state, user, twin):
    with pytest.raises(errors.Conflict, match="already exists"):
        create_user(twin, OTHER_PASSWORD)
    assert [u.username for u in User.select()] == ["alice"]


def test_usernames_differing_in_accents_are_distinct_users(http, state):
    jose = create_user("jose", PASSWORD)
    accented = create_user("José", OTHER_PASSWORD)
    assert login(http, username="josé").status_code == 401  # jose's password is not José's
    assert login(http, username="JOSE").status_code == 303
    assert signed_in(jose) and not signed_in(accented)
    assert login(http, username="JOSÉ", password=OTHER_PASSWORD).status_code == 303
    assert signed_in(accented)


def test_preferred_username_keeps_the_case_it_was_created_with(http, state, webapp):
    created = create_user("McAlice", PASSWORD)
    assert created.username_key == "mcalice"
    code, verifier, _ = get_code(http, username="MCALICE")
    tokens = redeem(http, code, verifier, webapp).json()
    userinfo = http.get("/api/v2/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert userinfo.json()["preferred_username"] == "McAlice"
    assert User.get_by_id(created.id).username == "McAlice"


def test_a_username_too_long_once_case_is_folded_is_refused(state):
    assert len(username_key("ß" * 75)) == 150
    create_user("ß" * 75, PASSWORD)
    with pytest.raises(UserError, match="once case is folded"):
        create_user("ß" * 76, PASSWORD)
    assert User.select().count() == 1
