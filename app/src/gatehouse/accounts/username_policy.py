"""Usernames that must not be: invisible or direction-changing characters, and look-alikes of an existing name.

Two checks, both offline:

- `unsafe_characters(name)` names the code points a username must not hold: controls (Cc), format characters
  (Cf: the bidirectional embeddings, overrides, isolates and marks, zero-width joiners and spaces, the soft hyphen,
  tags...), surrogates (Cs), private use (Co), unassigned (Cn: as of this Python's Unicode version,
  `unicodedata.unidata_version`, so a character newer than that is refused too), line and paragraph separators
  (Zl, Zp), any whitespace, and the other default-ignorable code points (Unicode's Default_Ignorable_Code_Point,
  which holds invisible letters and marks such as U+3164 HANGUL FILLER and the variation selectors).
- `skeleton(name)` is the skeleton of Unicode Technical Standard #39 (Unicode Security Mechanisms, section 4): the
  string in NFD, each character replaced by its prototype from Unicode's confusables.txt, NFD again. Two strings
  are confusable when their skeletons are equal. Gatehouse also drops default-ignorable code points first
  (invisible, so they cannot tell two names apart). The mapping is gatehouse/data/confusables.txt, derived from
  Unicode's confusables.txt version 13.0.0 (as shipped in the `confusables` 1.2.0 package), Unicode licence, see
  gatehouse/data/NOTICE; rebuilt by app/scripts/build_policy_data.py.

What to store and compare: `username_skeleton(name)`, of the username as given (not of its username_key, which has
already folded a capital I to 'i' and lost its likeness to 'l'), is

    skeleton(casefold(skeleton(NFKC(name)))), repeated until it no longer changes (once, for almost every name)

that is: look-alikes are found on the name as it is shown ('aIice' with a capital I reads as 'alice'), then case is
folded so that look-alikes in any case meet ('Admin' and 'admіn' with a Cyrillic і), and the skeleton is taken once
more so that what case folding produced is mapped too. A new username is refused when its username_skeleton equals
an existing user's (as well as when its username_key does: they are separate checks; two names with one key, such
as 'IAN' and 'ian', may have different skeletons, 'lan' and 'ian').

Accents: TR39 keeps them. A skeleton maps look-alike marks to one prototype mark but never drops a mark, so 'jose'
and 'josé' have different skeletons and stay distinct users, as they are distinct usernames (accounts.users).

The table maps the usual suspects: Latin 'I', 'l', '1' and '|' meet at 'l', '0' and 'O' at 'O', 'm' becomes 'rn',
Cyrillic and Greek look-alikes become Latin, mathematical and full-width letters their plain forms. The price of
folding case after the skeleton is a few refusals of names that are not confusable, all in capitals ('IAN' and
'LAN' both give 'lan'): a name can always be chosen otherwise, an impersonation cannot be undone.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from importlib import resources

from gatehouse.errors import Invalid

CONFUSABLES_FILE = "data/confusables.txt"

# General categories refused in a username.
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"})
# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt, 15.0): invisible in rendering. Most are Cf or
# Cn already; the others are letters and marks (Hangul fillers, variation selectors, the combining grapheme joiner).
DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
# Bidirectional formatting characters (all Cf, named here for readers and tests).
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

_MAX_ROUNDS = 8
_NO_NAME = {"Cc": "<control>", "Cs": "<surrogate>", "Co": "<private use>", "Cn": "<unassigned>"}


class UnsafeUsername(Invalid):
    """A username holding characters that unsafe_characters names; `characters` lists them, `field` is "username"."""

    def __init__(self, characters: list[str]):
        super().__init__("username must not hold " + ", ".join(characters), "username")
        self.characters = characters


def _default_ignorable(code: int) -> bool:
    return any(low <= code <= high for low, high in DEFAULT_IGNORABLE)


def _is_unsafe(char: str) -> bool:
    return (
        unicodedata.category(char) in UNSAFE_CATEGORIES
        or char.isspace()
        or char in BIDI_CONTROLS
        or _default_ignorable(ord(char))
    )


def describe(char: str) -> str:
    """'U+202E RIGHT-TO-LEFT OVERRIDE'; a character without a name gets its kind: 'U+0007 <control>'."""
    name = unicodedata.name(char, None) or _NO_NAME.get(unicodedata.category(char), "<unnamed>")
    return f"U+{ord(char):04X} {name}"


def unsafe_characters(name: str) -> list[str]:
    """The distinct code points of `name` that a username must not hold, described ('U+202E RIGHT-TO-LEFT
    OVERRIDE'), in order of first appearance; empty when there are none."""
    return [describe(c) for c in dict.fromkeys(name) if _is_unsafe(c)]


def check_username_characters(name: str) -> None:
    """Raise UnsafeUsername naming the characters unsafe_characters finds, if any."""
    found = unsafe_characters(name)
    if found:
        raise UnsafeUsername(found)


@cache
def _prototypes() -> dict[int, str | None]:
    """confusables.txt as a str.translate table: code point -> prototype; default-ignorables map to nothing."""
    table: dict[int, str | None] = {}
    text = resources.files("gatehouse").joinpath(CONFUSABLES_FILE).read_text(encoding="utf-8")
    for line in text.splitlines():
        if line and not line.startswith("#"):
            source, target = line.split("\t")
            table[int(source, 16)] = "".join(chr(int(h, 16)) for h in target.split())
    for low, high in DEFAULT_IGNORABLE:
        for code in range(low, high + 1):
            table[code] = None
    return table


def skeleton(name: str) -> str:
    """UTS #39 skeleton: NFD, each character replaced by its confusables.txt prototype, NFD again (default-ignorable
    code points dropped). For comparison only, never for display: it mixes scripts freely."""
    return unicodedata.normalize("NFD", unicodedata.normalize("NFD", name).translate(_prototypes()))


def username_skeleton(name: str) -> str:
    """What usernames are compared by for look-alikes, of the username as given: skeleton(casefold(skeleton(NFKC(
    name)))), applied again until nothing changes. Equal for 'alice' and 'aIice', 'paypal' and 'pаypal', 'Admin' and
    'admіn'; different for 'jose' and 'josé'."""
    current = name
    # One application is the fixed point for almost every name; repeating it makes the result idempotent, as a
    # stored key should be, where the 13.0 table is not closed under NFKC, case folding and NFD (20 code points
    # need a second round, such as U+0025 PERCENT SIGN, whose prototype holds a subscript zero, or U+13F8 CHEROKEE
    # SMALL LETTER YE, which folds to a capital). The bound only guards against a table that would cycle.
    for _ in range(_MAX_ROUNDS):
        folded = skeleton(skeleton(unicodedata.normalize("NFKC", current)).casefold())
        if folded == current:
            break
        current = folded
    return current


def confusable(a: str, b: str) -> bool:
    """Whether two usernames look alike (equal username_skeleton)."""
    return username_skeleton(a) == username_skeleton(b)
