"""Every role's meta/argument_specs.yml is kept equal to its defaults/main.yml.

A variable in defaults but missing from the specs escapes type checking; one
in the specs but not in defaults is a typo or a stale entry. The defaults the
specs state must be those the role really uses. No hosts needed.
"""

from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[3] / "roles"


def _roles():
    return sorted(p.name for p in ROLES.iterdir() if (p / "defaults" / "main.yml").is_file()) if ROLES.is_dir() else []


def _load(role):
    defaults = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text()) or {}
    specs_file = ROLES / role / "meta" / "argument_specs.yml"
    assert specs_file.is_file(), f"role {role}: meta/argument_specs.yml is missing"
    specs = yaml.safe_load(specs_file.read_text()) or {}
    options = (specs.get("argument_specs", {}).get("main", {}) or {}).get("options") or {}
    return defaults, options


@pytest.mark.parametrize("role", _roles())
def test_specs_name_exactly_the_defaults(role):
    defaults, options = _load(role)
    missing = sorted(set(defaults) - set(options))
    extra = sorted(set(options) - set(defaults))
    assert not missing, f"role {role}: in defaults/main.yml but not in argument_specs: {', '.join(missing)}"
    assert not extra, f"role {role}: in argument_specs but not in defaults/main.yml: {', '.join(extra)}"


@pytest.mark.parametrize("role", _roles())
def test_specs_state_the_real_defaults(role):
    defaults, options = _load(role)
    wrong = [
        f"{name} (specs: {spec['default']!r}, defaults: {defaults[name]!r})"
        for name, spec in options.items()
        if name in defaults and isinstance(spec, dict) and "default" in spec and spec["default"] != defaults[name]
    ]
    assert not wrong, f"role {role}: argument_specs default differs from defaults/main.yml: {'; '.join(wrong)}"


@pytest.mark.parametrize("role", _roles())
def test_variables_are_prefixed_with_the_role(role):
    defaults, _ = _load(role)
    bad = sorted(name for name in defaults if not name.startswith(f"{role}_"))
    assert not bad, f"role {role}: defaults not prefixed '{role}_': {', '.join(bad)}"
