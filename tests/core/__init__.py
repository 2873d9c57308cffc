"""Tests of the plain domain code, without HTTP. A package, so that its conftests are not confused with
tests/app's (each would be the top-level module `conftest` when the two directories run in one session)."""
