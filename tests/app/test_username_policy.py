"""Usernames: no invisible, control or direction-changing characters, and no look-alike of an existing name
(gatehouse.username_policy: Unicode TR39 skeletons from the shipped confusables table)."""

from __future__ import annotations

import unicodedata
from importlib import resources

import pytest
from gatehouse.accounts import username_policy
from gatehouse.accounts.username_policy import (
    UnsafeUsername,
    check_username_characters,
    confusable,
    skeleton,
    unsafe_characters,
    username_skeleton,
)
from gatehouse.accounts.users import username_key

# --- characters ------------------------------------------------------------------------------------------------


def test_a_username_with_a_right_to_left_override_is_refused():
    name = "admin\u202egnp.exe"
    assert unsafe_characters(name) == ["U+202E RIGHT-TO-LEFT OVERRIDE"]
    with pytest.raises(UnsafeUsername, match="U\\+202E RIGHT-TO-LEFT OVERRIDE") as caught:
        check_username_characters(name)
    assert isinstance(caught.value, ValueError)
    assert caught.value.field == "username" and caught.value.characters == ["U+202E RIGHT-TO-LEFT OVERRIDE"]


@pytest.mark.parametrize("char", ["\u202a", "\u202b", "\u202c", "\u202d", "\u2066", "\u2067", "\u2068", "\u2069"])
def test_bidirectional_embeddings_overrides_and_isolates_are_refused(char):
    assert unsafe_characters(f"al{char}ice") == [username_policy.describe(char)]


@pytest.mark.parametrize("char", ["\u200e", "\u200f", "\u061c"])
def test_bidirectional_marks_are_refused(char):
    assert len(unsafe_characters("bob" + char)) == 1


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\x9b"])
def test_control_characters_are_refused(char):
    assert unsafe_characters(f"eve{char}") == [f"U+{ord(char):04X} " + unicodedata.name(char, "<control>")]


@pytest.mark.parametrize("char", ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\U000e0041"])
def test_format_characters_are_refused(char):
    assert unicodedata.category(char) == "Cf"
    assert unsafe_characters(f"ad{char}min") == [username_policy.describe(char)]


@pytest.mark.parametrize(
    ("char", "description"),
    [("\ud800", "U+D800 <surrogate>"), ("\ue000", "U+E000 <private use>"), ("\U0010fffd", "U+10FFFD <private use>")],
)
def test_surrogates_and_private_use_characters_are_refused(char, description):
    assert unsafe_characters("carol" + char) == [description]


def test_unassigned_code_points_are_refused():
    assert unicodedata.category("\u0378") == "Cn"
    assert unsafe_characters("dave\u0378") == ["U+0378 <unassigned>"]


@pytest.mark.parametrize("char", ["\u2028", "\u2029"])
def test_line_and_paragraph_separators_are_refused(char):
    assert unsafe_characters("frank" + char) == [username_policy.describe(char)]


@pytest.mark.parametrize("char", [" ", "\t", "\n", "\u00a0", "\u1680", "\u2003", "\u202f", "\u3000", "\x1c"])
def test_whitespace_of_any_kind_is_refused(char):
    assert unsafe_characters(f"grace{char}hopper") == [username_policy.describe(char)]


@pytest.mark.parametrize("char", ["\u3164", "\u115f", "\u1160", "\uffa0", "\ufe0f", "\u034f", "\U000e0100", "\u180b"])
def test_invisible_letters_and_variation_selectors_are_refused(char):
    assert unicodedata.category(char) not in {"Cc", "Cf"}  # refused as default-ignorable, not by category
    assert unsafe_characters("heidi" + char) == [username_policy.describe(char)]


@pytest.mark.parametrize(
    "name",
    ["alice", "McAlice", "josé", "o'brien", "a.b-c_d@example.org", "Ολυμπία", "ユーザー", "नमस्ते", "Straße", "user42"],
)
def test_ordinary_usernames_have_no_unsafe_characters(name):
    assert unsafe_characters(name) == []
    check_username_characters(name)


def test_each_offending_character_is_named_once_in_order_of_appearance():
    assert unsafe_characters("a\u202eb\u200bc\u202ed e") == [
        "U+202E RIGHT-TO-LEFT OVERRIDE",
        "U+200B ZERO WIDTH SPACE",
        "U+0020 SPACE",
    ]


# --- look-alikes -----------------------------------------------------------------------------------------------


def test_cyrillic_a_is_confusable_with_latin_a():
    assert "pаypal" != "paypal" and unicodedata.name("pаypal"[1]) == "CYRILLIC SMALL LETTER A"
    assert username_skeleton("pаypal") == username_skeleton("paypal")
    assert skeleton("pаypal") == "paypal"


def test_capital_i_is_confusable_with_small_l():
    assert username_skeleton("aIice") == username_skeleton("alice")
    assert confusable("aIice", "alice")


def test_cyrillic_i_is_confusable_with_latin_i():
    assert unicodedata.name("admіn"[3]) == "CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I"
    assert username_skeleton("admіn") == username_skeleton("admin")


@pytest.mark.parametrize(("existing", "newcomer"), [("Admin", "admіn"), ("PAYPAL", "РАYРАL"), ("Ian", "lan")])
def test_look_alikes_are_found_whatever_the_case(existing, newcomer):
    assert username_key(existing) != username_key(newcomer)  # a different user by key...
    assert confusable(existing, newcomer)  # ...but a look-alike


@pytest.mark.parametrize(("a", "b"), [("a1ice", "alice"), ("b0b", "bob"), ("a|ice", "alice")])
def test_digits_and_bars_are_confusable_with_letters(a, b):
    assert confusable(a, b)


def test_rn_is_confusable_with_m():
    assert confusable("rnallory", "mallory")


@pytest.mark.parametrize("fancy", ["𝐚𝐥𝐢𝐜𝐞", "ａｌｉｃｅ", "𝖆𝖑𝖎𝖈𝖊", "ɑlice"])
def test_mathematical_full_width_and_ipa_letters_are_confusable_with_plain_ones(fancy):
    assert confusable(fancy, "alice")


def test_an_invisible_character_does_not_make_a_name_distinct():
    assert confusable("ad\u200bmin", "admin")
    assert confusable("admin\ufe0f", "admin")


def test_accented_and_unaccented_names_are_not_confusable():
    # TR39 keeps marks: a skeleton maps look-alike marks to one prototype but never drops one.
    assert not confusable("jose", "josé")
    assert skeleton("josé") == "jose\u0301"


def test_composed_and_decomposed_accents_give_one_skeleton():
    assert username_skeleton("jos\u00e9") == username_skeleton("jose\u0301")


@pytest.mark.parametrize(("a", "b"), [("alice", "bob"), ("alice", "alicia"), ("carol", "caro1l"), ("dan", "don")])
def test_different_names_are_not_confusable(a, b):
    assert not confusable(a, b)


def test_the_raw_skeleton_is_tr39s_nfd_map_nfd_and_keeps_case():
    assert skeleton("aIice") == "alice"  # I -> l
    assert skeleton("ALICE") == "ALlCE"  # case is kept: folding is username_skeleton's
    assert skeleton("Å") == "A\u030a"  # NFD
    assert skeleton("\u212b") == "A\u030a"  # ANGSTROM SIGN, by its decomposition


def test_the_skeleton_is_taken_of_the_name_as_given_not_of_its_key():
    # username_key has folded the capital I to 'i' already: its look-alike of 'l' is gone.
    assert username_skeleton(username_key("aIice")) != username_skeleton("alice")
    assert username_skeleton("aIice") == username_skeleton("alice")


@pytest.mark.parametrize("name", ["alice", "aIice", "josé", "%", "\u13f8", "ǄEMAL", "Straße", "admіn"])
def test_username_skeleton_is_idempotent(name):
    once = username_skeleton(name)
    assert username_skeleton(once) == once


def test_the_confusables_table_is_read_from_the_package():
    text = resources.files("gatehouse").joinpath(username_policy.CONFUSABLES_FILE).read_text(encoding="utf-8")
    assert "confusables.txt, UTS #39 version 13.0.0" in text
    rows = [line for line in text.splitlines() if not line.startswith("#")]
    assert len(rows) > 6000
    assert "0430\t0061" in rows  # CYRILLIC SMALL LETTER A -> LATIN SMALL LETTER A
    notice = resources.files("gatehouse").joinpath("data/NOTICE").read_text(encoding="utf-8")
    assert "UNICODE LICENSE V3" in notice
