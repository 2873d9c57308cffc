"""New passwords: 8-1024 characters, not on the shipped list of common passwords, not the user's own name
(gatehouse.password_policy; OWASP ASVS 6.2.4, NIST SP 800-63B 5.1.1.2). Offline: no network is needed or used."""

from __future__ import annotations

import gzip
import unicodedata
from importlib import resources

import pytest
from gatehouse.accounts import password_policy
from gatehouse.accounts.password_policy import (
    CONTEXT_MIN,
    PASSWORD_MAX,
    PASSWORD_MIN,
    PasswordRejected,
    check_new_password,
    common_passwords,
    is_common,
)

STRONG = "correct horse battery staple"


def rejection(password, **context) -> PasswordRejected:
    with pytest.raises(PasswordRejected) as caught:
        check_new_password(password, **context)
    return caught.value


@pytest.mark.parametrize("password", ["password1", "iloveyou", "qwertyuiop", "1q2w3e4r5t", "trustno1", "12345678"])
def test_a_password_on_the_common_list_is_rejected(password):
    assert password in common_passwords()
    error = rejection(password)
    assert error.reason == "common"
    assert isinstance(error, ValueError)


@pytest.mark.parametrize("password", ["PASSWORD1", "PassWord1", "ｐａｓｓｗｏｒｄ１", "IloveYou"])
def test_the_common_list_is_matched_case_insensitively_and_after_nfkc(password):
    assert password not in common_passwords()  # only its normalised form is
    assert is_common(password)
    assert rejection(password).reason == "common"


@pytest.mark.parametrize("password", [STRONG, "tX9#qv!2mPz&", "Zürich-Föhn-Lärm-7", "пароль-для-меня-42"])
def test_an_uncommon_password_is_accepted(password):
    assert check_new_password(password, username="alice", email="alice@example.org") is None


def test_a_password_shorter_than_the_minimum_is_rejected():
    assert PASSWORD_MIN == 8
    assert rejection("kq7#vz2").reason == "too_short"
    check_new_password("kq7#vz2!")  # exactly 8


def test_a_password_longer_than_the_maximum_is_rejected():
    assert PASSWORD_MAX == 1024
    assert rejection("kq7#vz2!" * 128 + "x").reason == "too_long"
    check_new_password("kq7#vz2!" * 128)  # exactly 1024


def test_the_limits_are_the_admin_apis():
    from gatehouse.web.admin import api as admin_api

    assert (PASSWORD_MIN, PASSWORD_MAX) == (admin_api.PASSWORD_MIN, admin_api.PASSWORD_MAX)


@pytest.mark.parametrize("password", [None, 12345678, b"bytes-password"])
def test_a_password_that_is_not_a_string_is_rejected(password):
    assert rejection(password).reason == "type"


def test_a_password_equal_to_the_username_is_rejected():
    assert rejection("ZebraCrossing", username="zebracrossing").reason == "contains_username"


@pytest.mark.parametrize("password", ["xxALICE-2024yy", "my alice passphrase", "ａｌｉｃｅ-in-wonderland-9"])
def test_a_password_containing_the_username_is_rejected(password):
    assert rejection(password, username="Alice").reason == "contains_username"


def test_a_password_containing_the_email_local_part_is_rejected():
    error = rejection("ALICE.SMITH-rocks!", email="alice.smith@example.org")
    assert error.reason == "contains_email"
    assert rejection("bob.jones@work", email="Bob.Jones@example.org").reason == "contains_email"


def test_the_email_domain_alone_does_not_reject():
    check_new_password("example-domain-walk", email="bob@example.org")


def test_a_username_shorter_than_the_context_minimum_may_appear_in_a_password():
    assert CONTEXT_MIN == 3
    check_new_password("totally-alright-42", username="al")
    assert rejection("totally-alright-42", username="all").reason == "contains_username"


def test_no_context_means_no_context_check():
    check_new_password("alice-wonders-why", username=None, email=None)
    check_new_password("alice-wonders-why", username="", email="")


@pytest.mark.parametrize(
    ("password", "context"),
    [
        ("short7!", {}),
        ("x" * 1025, {}),
        ("password1", {}),
        ("Secret-alice-99", {"username": "alice"}),
        ("Secret-carol-99", {"email": "carol@example.org"}),
    ],
)
def test_the_message_never_contains_the_password(password, context):
    error = rejection(password, **context)
    assert password not in str(error)
    assert password.lower() not in str(error).lower()
    assert error.field == "password" and error.message == str(error)


def test_the_list_is_read_once_and_kept():
    assert common_passwords() is common_passwords()
    assert isinstance(common_passwords(), frozenset)


def test_the_shipped_list_holds_normalised_entries_of_at_least_the_minimum_length():
    data = resources.files("gatehouse").joinpath(password_policy.COMMON_PASSWORDS_FILE).read_bytes()
    entries = gzip.decompress(data).decode().splitlines()
    assert 10_000 <= len(entries) <= 100_000
    assert entries == sorted(set(entries))
    assert all(unicodedata.normalize("NFKC", e).casefold() == e and len(e) >= PASSWORD_MIN for e in entries)
    assert len(data) < 200_000


def test_the_shipped_data_has_its_licence_notice_beside_it():
    notice = resources.files("gatehouse").joinpath("data/NOTICE").read_text(encoding="utf-8")
    assert "zxcvbn" in notice and "MIT License" in notice
    assert "Django" in notice and "Redistribution and use in source and binary forms" in notice
