"""What a new password must be: long enough, not a common password, not the user's own name.

OWASP ASVS 6.2.4 and NIST SP 800-63B §5.1.1.2 ask that a new password be checked against a list of commonly used,
expected or compromised values, and against context-specific words such as the username. Gatehouse does it offline,
against a list shipped in the package (gatehouse/data/common-passwords.txt.gz):

- the union of the "passwords" frequency list of zxcvbn 4.5.0 (MIT licence) and the common-password list shipped
  with Django 5.2.19 (BSD 3-Clause licence), each entry NFKC-normalised and case-folded, keeping the 16,293 entries
  of at least PASSWORD_MIN characters (a shorter one is refused by the length rule anyway); licences and provenance
  in gatehouse/data/NOTICE, rebuilt by app/scripts/build_policy_data.py (its header says how to run it).

Why offline, not a breached-password web service (k-anonymity range queries): an identity server should not make
an outbound call, nor depend on a third party's availability, latency or honesty, in the middle of setting a
password; it must work in networks with no egress; and even a hashed prefix of a password is more than it should send
anywhere. A list of tens of thousands covers the passwords that online guessing tries first, which is what a
rate-limited sign-in has to fear; the slow password hash covers the rest.

The list is read once, on first use, into a frozenset: each check is a set lookup (plus, for the username and email
rules, a substring search), microseconds next to the password hash that follows it.

Comparison is case-insensitive and after NFKC: "PassWord1", "ｐａｓｓｗｏｒｄ１" (full-width) and "password1" are one
entry. Messages never contain the password.
"""

from __future__ import annotations

import gzip
import unicodedata
from functools import cache
from importlib import resources

from gatehouse.errors import Invalid

PASSWORD_MIN, PASSWORD_MAX = 8, 1024  # characters, of the password as given
# The username or the email's local part is refused inside a password only from this length on: a password holding
# "al" or "bob" is not the user's name so much as a chance.
CONTEXT_MIN = 3

COMMON_PASSWORDS_FILE = "data/common-passwords.txt.gz"


class PasswordRejected(Invalid):
    """A new password that the policy refuses. `reason` is one of "type", "too_short", "too_long", "common",
    "contains_username", "contains_email"; `field` is "password", for an API's error body. The message is fit to
    show the user and never includes the password."""

    def __init__(self, message: str, reason: str):
        super().__init__(message, "password")
        self.reason = reason


def password_key(password: str) -> str:
    """What passwords are compared by here: NFKC, then case folded (never what is hashed: that is the password as
    given)."""
    return unicodedata.normalize("NFKC", password).casefold()


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list, read once (thread-safe enough: a race reads it twice and keeps one)."""
    data = resources.files("gatehouse").joinpath(COMMON_PASSWORDS_FILE).read_bytes()
    return frozenset(gzip.decompress(data).decode("utf-8").splitlines())


def is_common(password: str) -> bool:
    """Whether the password, case-insensitively and after NFKC, is on the shipped list."""
    return password_key(password) in common_passwords()


def _context_words(username: str | None, email: str | None) -> list[tuple[str, str, str]]:
    """(word, reason, message) for each context word to keep out of the password."""
    words = []
    if username:
        words.append((password_key(username), "contains_username", "password must not contain the username"))
    if email:
        local = email.rpartition("@")[0] or email
        words.append((password_key(local), "contains_email", "password must not contain the email address's name"))
    return words


def check_new_password(password: str, *, username: str | None = None, email: str | None = None) -> None:
    """Refuse a new password (PasswordRejected) that is not PASSWORD_MIN-PASSWORD_MAX characters long, is on the
    list of common passwords, or equals or contains the username or the email's local part (the part before the
    last '@'; containment counts from CONTEXT_MIN characters on). All comparisons are case-insensitive, after NFKC.
    Returns None when the password is acceptable."""
    if not isinstance(password, str):
        raise PasswordRejected("password must be a string", "type")
    if len(password) < PASSWORD_MIN:
        raise PasswordRejected(f"password must be at least {PASSWORD_MIN} characters", "too_short")
    if len(password) > PASSWORD_MAX:
        raise PasswordRejected(f"password must be at most {PASSWORD_MAX} characters", "too_long")
    key = password_key(password)
    if key in common_passwords():
        raise PasswordRejected(
            "this password is too common (it is on a list of common passwords); choose another", "common"
        )
    for word, reason, message in _context_words(username, email):
        if word and (key == word or (len(word) >= CONTEXT_MIN and word in key)):
            raise PasswordRejected(message, reason)
