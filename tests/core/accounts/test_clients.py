"""Client registration (accounts.clients): the rules, each naming its field, and who may touch an admin client."""

from __future__ import annotations

import time

import pytest
from gatehouse import errors
from gatehouse.accounts import clients
from gatehouse.accounts.actor import SYSTEM
from gatehouse.crypto.digests import digest
from gatehouse.store.models import AuditLog, Client, Consent, Grant

REDIRECT = "https://app.example.test/cb"


def register(actor=SYSTEM, **overrides):
    values = {
        "client_id": "webapp",
        "name": "Web App",
        "confidential": True,
        "redirect_uris": [REDIRECT],
        "post_logout_redirect_uris": [],
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": "openid profile",
    }
    values.update(overrides)
    return clients.create_client(actor, **values)


def refused(field: str, **overrides) -> clients.ClientError:
    with pytest.raises(clients.ClientError) as caught:
        register(**overrides)
    assert (caught.value.status, caught.value.field) == (400, field)
    assert Client.select().count() == 0
    return caught.value


def test_a_confidential_client_gets_a_secret_shown_once_and_stored_as_a_digest(db):
    data, secret = register()
    assert secret and "client_secret" not in data and not any("digest" in key for key in data)
    assert Client.get(Client.client_id == "webapp").client_secret_digest == digest(secret)
    assert AuditLog.get(AuditLog.event == "client.created").actor == "cli"


def test_a_public_client_has_no_secret(db):
    data, secret = register(confidential=False, grant_types=["authorization_code"])
    assert secret is None and data["confidential"] is False


@pytest.mark.parametrize("client_id", ["12345", "007"])
def test_a_client_id_is_never_all_digits_so_its_sub_is_never_a_users(db, client_id):
    assert "all digits" in str(refused("client_id", client_id=client_id))


@pytest.mark.parametrize("client_id", ["", "has space", "slash/y", "x" * 101])
def test_a_client_id_is_1_to_100_url_safe_characters(db, client_id):
    refused("client_id", client_id=client_id)


def test_a_client_id_is_taken_case_insensitively(db):
    register(client_id="App")
    with pytest.raises(errors.Conflict, match="already exists") as caught:
        register(client_id="app")
    assert caught.value.field == "client_id"


def test_only_an_admin_client_may_hold_the_admin_scope(db):
    assert "only an admin client may hold the admin scope" in str(refused("scope", scope="openid admin"))
    assert register(scope="openid admin", is_admin=True)[0]["is_admin"]


def test_a_scope_value_is_a_lower_case_token(db):
    assert "invalid scope value(s): Bad!" in str(refused("scope", scope="openid Bad!"))


def test_authorization_code_needs_a_redirect_uri(db):
    assert str(refused("redirect_uris", redirect_uris=[])) == "authorization_code needs at least one redirect URI"


def test_a_public_client_cannot_use_client_credentials(db):
    refused("grant_types", confidential=False, redirect_uris=[], grant_types=["client_credentials"])


def test_refresh_tokens_come_only_with_authorization_code(db):
    refused("grant_types", redirect_uris=[], grant_types=["client_credentials", "refresh_token"])


def test_an_unknown_grant_type_is_named(db):
    assert "got password" in str(refused("grant_types", grant_types=["authorization_code", "password"]))


@pytest.mark.parametrize(
    ("field", "what"),
    [("redirect_uris", "redirect URI"), ("post_logout_redirect_uris", "post-logout redirect URI")],
)
def test_a_redirect_uri_the_browser_reads_differently_is_refused_naming_its_field(db, field, what):
    attack = "http://evil.example:7777\\@127.0.0.1:9999/callback"
    caught = refused(field, **{field: [REDIRECT, attack] if field == "redirect_uris" else [attack]})
    assert str(caught).startswith(f"{what} {attack!r}")


def test_the_rules_alone_answer_as_registration_does(db):
    """validate() is what create and update apply: the check-clients command and the tests may call it alone."""
    with pytest.raises(clients.ClientError, match="redirect URI") as caught:
        clients.validate(False, ["http://127.0.0.1\\@evil/cb"], [], ["authorization_code"], "openid")
    assert caught.value.field == "redirect_uris"


# Admin clients are for admins ----------------------------------------------------------------


def test_only_an_admin_registers_changes_rotates_or_deletes_an_admin_client(db, make_user, actor_of, cache, tokens):
    clerk = actor_of(make_user("clerk", "clients:read", "clients:write"))
    with pytest.raises(errors.NotAllowed, match="only an admin can register an admin client"):
        register(clerk, client_id="console", scope="openid admin", is_admin=True)
    register(client_id="console", scope="openid admin", is_admin=True)
    with pytest.raises(errors.NotAllowed, match="only an admin can change an admin client"):
        clients.update_client(clerk, "console", {"name": "Mine now"}, cache, tokens)
    with pytest.raises(errors.NotAllowed, match="rotate"):
        clients.rotate_client_secret(clerk, "console", cache)
    with pytest.raises(errors.NotAllowed, match="delete"):
        clients.delete_client(clerk, "console", cache, tokens)
    register(client_id="plain")
    with pytest.raises(errors.NotAllowed, match="make a client one"):
        clients.update_client(clerk, "plain", {"is_admin": True}, cache, tokens)
    assert clients.get_client("console")["name"] == "Web App" and not clients.get_client("plain")["is_admin"]


def test_a_client_holding_the_admin_scope_cannot_stop_being_an_admin_client(db, cache, tokens):
    register(client_id="console", scope="openid admin", is_admin=True)
    with pytest.raises(clients.ClientError, match="admin scope") as caught:
        clients.update_client(SYSTEM, "console", {"is_admin": False}, cache, tokens)
    assert caught.value.field == "scope"


# What follows from a change --------------------------------------------------------------------


def test_deactivating_a_client_revokes_its_grants_and_drops_it_from_the_cache(db, cache, tokens):
    register()
    now = int(time.time())
    Grant.create(id="g1", client_id="webapp", user_id=1, scope="openid", auth_time=now, created_at=now, expires_at=now)
    Grant.create(id="g2", client_id="other", user_id=1, scope="openid", auth_time=now, created_at=now, expires_at=now)
    clients.update_client(SYSTEM, "webapp", {"is_active": False}, cache, tokens)
    assert tokens.revoked == [("g1", "client_deactivated")]
    assert cache.invalidated == ["webapp"]


def test_new_redirect_uris_forget_the_consents_given_for_the_old_ones(db, cache, tokens):
    register()
    Consent.create(user_id=1, client_id="webapp", scope="openid", created_at=int(time.time()))
    clients.update_client(SYSTEM, "webapp", {"name": "Renamed"}, cache, tokens)
    assert Consent.select().count() == 1
    clients.update_client(SYSTEM, "webapp", {"redirect_uris": ["https://app.example.test/new"]}, cache, tokens)
    assert Consent.select().count() == 0


def test_an_update_is_checked_as_a_whole_registration(db, cache, tokens):
    register()
    with pytest.raises(clients.ClientError, match="needs at least one redirect URI"):
        clients.update_client(SYSTEM, "webapp", {"redirect_uris": []}, cache, tokens)
    assert clients.get_client("webapp")["redirect_uris"] == [REDIRECT]


def test_a_public_client_has_no_secret_to_rotate(db):
    register(client_id="spa", confidential=False, grant_types=["authorization_code"])
    with pytest.raises(errors.Conflict, match="no secret"):
        clients.rotate_client_secret(SYSTEM, "spa")


def test_a_rotated_secret_replaces_the_old_one(db):
    _, old = register()
    new = clients.rotate_client_secret(SYSTEM, "webapp")
    assert new != old and Client.get(Client.client_id == "webapp").client_secret_digest == digest(new)
