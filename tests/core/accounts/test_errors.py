"""The accounts' own errors are the one error family's (gatehouse.errors): a 400 naming the field, with their extras."""

from __future__ import annotations

import pytest
from gatehouse import errors
from gatehouse.accounts import clients, users
from gatehouse.accounts.password_policy import PasswordRejected, check_new_password
from gatehouse.accounts.username_policy import UnsafeUsername, check_username_characters


def test_a_rejected_password_is_invalid_input_on_the_password_field_with_its_reason():
    with pytest.raises(errors.Invalid) as caught:
        check_new_password("short")
    error = caught.value
    assert isinstance(error, PasswordRejected) and isinstance(error, ValueError)
    assert (error.status, error.field, error.reason) == (400, "password", "too_short")
    assert error.as_dict() == {
        "error": "invalid_request",
        "error_description": "password must be at least 8 characters",
        "field": "password",
    }


def test_an_unsafe_username_is_invalid_input_on_the_username_field_naming_the_characters():
    with pytest.raises(errors.Invalid) as caught:
        check_username_characters("bell\x07zero\u200b")
    error = caught.value
    assert isinstance(error, UnsafeUsername)
    assert error.characters == ["U+0007 <control>", "U+200B ZERO WIDTH SPACE"]
    assert error.as_dict()["field"] == "username"
    assert error.message == "username must not hold U+0007 <control>, U+200B ZERO WIDTH SPACE"


def test_user_and_client_errors_are_invalid_input_naming_their_field():
    with pytest.raises(errors.Invalid) as caught:
        users.validate_username("ß" * 76)
    assert isinstance(caught.value, users.UserError) and caught.value.field == "username"
    assert "once case is folded" in caught.value.message
    with pytest.raises(errors.Invalid) as caught:
        clients.check_client_id("42")
    assert isinstance(caught.value, clients.ClientError) and caught.value.as_dict()["field"] == "client_id"
