"""RP-Initiated Logout 1.0 (oauth.rp_logout): the hint, the client and the post-logout redirect."""

from __future__ import annotations

import pytest
from gatehouse.oauth import access_token, id_token, rp_logout
from gatehouse.oauth.clients import ClientRecord

from core.conftest import Clients

AFTER = "https://app.example/bye"
CLIENTS = Clients(
    ClientRecord(
        id=1,
        client_id="webapp",
        name="Web app",
        is_confidential=True,
        secret_digest=None,
        redirect_uris=("https://app.example/cb",),
        post_logout_redirect_uris=(AFTER,),
        grant_types=frozenset({"authorization_code"}),
        scopes=("openid",),
    )
)


class User:
    id = 7


def hint(signer, client_id="webapp", subject="7", ttl=60) -> str:
    return id_token.issue(
        signer, client_id=client_id, subject=subject, ttl=ttl, auth_time=1, nonce=None, access_token=None
    )


def resolve(signer, **params):
    return rp_logout.resolve(signer, CLIENTS, params)


def test_a_hint_names_the_client_and_the_user(rs256_signer):
    logout = resolve(rs256_signer, id_token_hint=hint(rs256_signer), post_logout_redirect_uri=AFTER, state="s1")
    assert logout.client.client_id == "webapp"
    assert logout.names_user(User()) and not logout.names_user(None)
    assert logout.redirect_target() == AFTER + "?state=s1"


def test_an_expired_hint_still_names_the_session_to_end(rs256_signer):
    assert resolve(rs256_signer, id_token_hint=hint(rs256_signer, ttl=-60)).names_user(User())


def test_a_hint_of_another_user_does_not_end_this_users_session_unasked(rs256_signer):
    assert not resolve(rs256_signer, id_token_hint=hint(rs256_signer, subject="8")).names_user(User())


def test_an_access_token_is_no_hint(rs256_signer):
    token, _ = access_token.issue(rs256_signer, client_id="webapp", subject="7", scope="openid", ttl=60)
    with pytest.raises(rp_logout.LogoutRequestError, match="id_token_hint"):
        resolve(rs256_signer, id_token_hint=token)


def test_a_client_id_beside_the_hint_must_be_its_audience(rs256_signer):
    with pytest.raises(rp_logout.LogoutRequestError, match="client_id"):
        resolve(rs256_signer, id_token_hint=hint(rs256_signer), client_id="other")


def test_a_redirect_needs_a_client(rs256_signer):
    with pytest.raises(rp_logout.LogoutRequestError, match="needs a client_id"):
        resolve(rs256_signer, post_logout_redirect_uri=AFTER)


@pytest.mark.parametrize("uri", ["https://evil.example/", AFTER + "/more", AFTER + "?x=1", "https://app.example/cb"])
def test_only_a_registered_post_logout_redirect_uri_is_followed(rs256_signer, uri):
    with pytest.raises(rp_logout.LogoutRequestError, match="not registered"):
        resolve(rs256_signer, client_id="webapp", post_logout_redirect_uri=uri)


def test_without_a_redirect_there_is_no_target_and_state_alone_changes_nothing(rs256_signer):
    logout = resolve(rs256_signer, client_id="webapp", state="s1")
    assert logout.redirect_target() is None and logout.client is not None


def test_an_unknown_client_is_no_client(rs256_signer):
    assert resolve(rs256_signer, client_id="nobody").client is None
