"""roles/mysql: meta/argument_specs.yml is kept equal to defaults/main.yml.

Every public input has an entry with a type; a static default is repeated
exactly; a templated default (it depends on facts or the hostname) is
described instead. Runs on the controller, no host needed.
"""

from pathlib import Path

import yaml

ROLE = Path(__file__).resolve().parents[2] / "roles" / "mysql"


def load(relative):
    return yaml.safe_load((ROLE / relative).read_text())


def test_argument_specs_name_exactly_the_defaults():
    defaults = load("defaults/main.yml")
    options = load("meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert sorted(options) == sorted(defaults)


def test_every_default_is_role_prefixed():
    assert all(name.startswith("mysql_") for name in load("defaults/main.yml"))


def test_static_defaults_are_repeated_and_templated_ones_described():
    defaults = load("defaults/main.yml")
    options = load("meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    for name, value in defaults.items():
        spec = options[name]
        assert "type" in spec and spec.get("description"), name
        if isinstance(value, str) and "{{" in value:
            assert "default" not in spec, name
        else:
            assert spec.get("default") == value, name
