"""Bad Prometheus and Alertmanager inputs stop site.yml before any host changes.

The rules of roles/prometheus/tasks/preflight.yml and
roles/alertmanager/tasks/preflight.yml (site.yml's play "Preflight |
monitoring", on the hosts of `monitoring`) fail with a message naming the
variable and the bad value; a rule file that promtool refuses is refused on
the controller. See preflight.py for how the sites below are run (every host
is this machine, in check mode).

A site holds one monitoring host per broken rule of the same task; rules of
different tasks need sites of their own (the preflight stops every host at
the first failure, any_errors_fatal).
"""

import json
import shutil

import pytest
from preflight import REPO, Site, assert_refused, single_node

GOOD = single_node()

DURATIONS = Site(
    groups={"monitoring": ["retention-words", "retention-unit", "interval-words"]},
    hostvars={
        "retention-words": {"prometheus_retention_time": "two weeks"},
        "retention-unit": {"prometheus_retention_time": "15days"},
        "interval-words": {"prometheus_scrape_interval": "often"},
    },
)
RETENTION_SIZE = Site(
    groups={"monitoring": ["size-lowercase"]},
    hostvars={"size-lowercase": {"prometheus_retention_size": "10gb"}},
)
RULE_FILES = Site(
    groups={"monitoring": ["bad-rule"]},
    hostvars={"bad-rule": {"prometheus_rules_dir": "{{ inventory_dir }}/rules"}},
    files={
        "rules/broken.yml": (
            "groups:\n  - name: broken\n    rules:\n      - alert: Broken\n        expr: up ==\n        for: 1m\n"
        )
    },
)
NO_RULES_DIR = Site(
    groups={"monitoring": ["no-rules"]},
    hostvars={"no-rules": {"prometheus_rules_dir": "/nonexistent/gatehouse/rules"}},
)

NULL = {"name": "default", "type": "null"}
RECEIVER_TYPES = Site(
    groups={"monitoring": ["pagerduty"]},
    hostvars={"pagerduty": {"alertmanager_receivers": [NULL, {"name": "oncall", "type": "pagerduty"}]}},
)
WEBHOOKS = Site(
    groups={"monitoring": ["webhook-without-url", "webhook-not-http"]},
    hostvars={
        "webhook-without-url": {"alertmanager_receivers": [NULL, {"name": "chat", "type": "webhook", "webhook": {}}]},
        "webhook-not-http": {
            "alertmanager_receivers": [
                NULL,
                {"name": "chat", "type": "webhook", "webhook": {"url": "hooks.example.org/secret-token-0123"}},
            ]
        },
    },
)
EMAIL = Site(
    groups={"monitoring": ["email-without-smarthost"]},
    hostvars={
        "email-without-smarthost": {
            "alertmanager_receivers": [
                NULL,
                {"name": "ops", "type": "email", "email": {"to": "ops@example.org", "from": "am@example.org"}},
            ]
        }
    },
)
ROUTE = Site(
    groups={"monitoring": ["unknown-route-receiver"]},
    hostvars={"unknown-route-receiver": {"alertmanager_route_receiver": "ops"}},
)
ALERTMANAGER_DURATIONS = Site(
    groups={"monitoring": ["repeat-words"]},
    hostvars={"repeat-words": {"alertmanager_repeat_interval": "daily"}},
)


def controller_promtool():
    lab = REPO / ".lab" / "bin" / "promtool"
    return str(lab) if lab.is_file() else shutil.which("promtool")


def test_the_default_inventory_passes_the_monitoring_preflight(preflight):
    run = preflight(GOOD)
    assert run.returncode == 0 and not run.failures and not run.changed, run.summary()
    assert "Preflight | monitoring" in run.plays, run.plays


def test_a_retention_in_words_is_refused(preflight):
    assert_refused(
        preflight(DURATIONS),
        "retention-words",
        "prometheus_retention_time must be a Prometheus duration",
        "(is 'two weeks')",
    )


def test_a_retention_with_a_long_unit_is_refused(preflight):
    assert_refused(
        preflight(DURATIONS), "retention-unit", "prometheus_retention_time must be a Prometheus duration", "'15days'"
    )


def test_a_scrape_interval_in_words_is_refused(preflight):
    assert_refused(
        preflight(DURATIONS), "interval-words", "prometheus_scrape_interval must be a Prometheus duration", "'often'"
    )


def test_a_retention_size_in_lowercase_is_refused(preflight):
    assert_refused(preflight(RETENTION_SIZE), "size-lowercase", "prometheus_retention_size", "'10gb'")


def test_a_missing_rules_directory_is_refused(preflight):
    assert_refused(
        preflight(NO_RULES_DIR),
        "no-rules",
        "prometheus_rules_dir",
        "'/nonexistent/gatehouse/rules' is not a directory on the controller",
    )


@pytest.mark.skipif(not controller_promtool(), reason="no promtool on this machine (tests/lab/monitoring-tools.sh)")
def test_a_rule_file_promtool_refuses_is_refused_on_the_controller(preflight):
    run = preflight(RULE_FILES)
    assert_refused(run, "bad-rule", "prometheus_rules_dir", "promtool check rules refused", "broken.yml")
    assert "could not parse expression" in " ".join(f.msg for f in run.failures)


def test_an_unknown_receiver_type_is_refused(preflight):
    assert_refused(
        preflight(RECEIVER_TYPES),
        "pagerduty",
        "alertmanager_receivers: receiver 'oncall' has the unknown type 'pagerduty'",
    )


def test_a_webhook_without_url_is_refused(preflight):
    assert_refused(
        preflight(WEBHOOKS),
        "webhook-without-url",
        "alertmanager_receivers: the webhook receiver 'chat' needs webhook.url",
    )


def test_a_webhook_url_that_is_not_http_is_refused_without_showing_it(preflight):
    run = preflight(WEBHOOKS)
    assert_refused(
        run, "webhook-not-http", "alertmanager_receivers: the webhook receiver 'chat' needs webhook.url, an http"
    )
    shown = json.dumps([p for p in run.report["plays"] if p["play"]["name"] == "Preflight | monitoring"])
    assert "secret-token-0123" not in shown


def test_an_email_receiver_without_smarthost_is_refused(preflight):
    assert_refused(
        preflight(EMAIL),
        "email-without-smarthost",
        "alertmanager_receivers: the email receiver 'ops' needs",
        "smarthost unset",
    )


def test_the_route_must_name_a_receiver(preflight):
    assert_refused(preflight(ROUTE), "unknown-route-receiver", "alertmanager_route_receiver ('ops')")


def test_an_alertmanager_interval_in_words_is_refused(preflight):
    assert_refused(
        preflight(ALERTMANAGER_DURATIONS),
        "repeat-words",
        "alertmanager_repeat_interval must be a duration",
        "(is 'daily')",
    )
