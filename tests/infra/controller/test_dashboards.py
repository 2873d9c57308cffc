"""The Grafana dashboards of monitoring/grafana/dashboards/, checked offline.

Every file is JSON with a unique uid and title; every panel has a title, a
data source Grafana provisions (uid `prometheus` or `loki`) and a query;
every Prometheus query, with the dashboard's variables replaced the way the
lab's checks send it raw to Prometheus (tests/infra/hosts/dashboards.py),
parses as PromQL: promtool checks a rule file with one recording rule per
query. The metric names are checked against what the app and the backup
tool declare here; the lab checks all of them against its Prometheus.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("dashboards", REPO / "tests" / "infra" / "hosts" / "dashboards.py")
dashboards = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dashboards)

FILES = dashboards.dashboard_files()
# The data sources the grafana role provisions, by uid.
DATASOURCES = {"prometheus": "prometheus", "loki": "loki"}
# Panels that show no data of their own.
LAYOUT_PANELS = {"row", "text"}
# Where every metric name comes from: the exporters' prefixes (Debian 12's
# node 1.5, mysqld 0.14, redis 1.45, nginx 0.11, blackbox 0.23, Prometheus
# and Alertmanager themselves) and Prometheus's `up`; the app's and the
# backup tool's names are checked one by one below.
EXPORTER_PREFIXES = ("node_", "mysql_", "redis_", "nginx_", "probe_", "prometheus_", "alertmanager_")
APP_METRICS = REPO / "app" / "src" / "gatehouse" / "runtime" / "metrics.py"
BACKUP_TOOL = REPO / "roles" / "backup" / "files" / "gatehouse_backup.py"


@pytest.fixture(scope="module")
def promtool():
    try:
        return dashboards.promtool()
    except FileNotFoundError as exc:
        pytest.fail(str(exc))


def visual_panels(dashboard):
    return [p for p in dashboards.panels(dashboard) if p.get("type") not in LAYOUT_PANELS]


def test_the_dashboards_are_there():
    assert {p.name for p in FILES} >= {
        "gatehouse-overview.json",
        "mysql.json",
        "redis.json",
        "nginx.json",
        "hosts.json",
    }


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_dashboard_is_json_with_uid_title_and_schema(path):
    dashboard = json.loads(path.read_text())
    assert dashboard.get("uid") and len(dashboard["uid"]) <= 40, f"{path.name}: uid missing or over 40 characters"
    assert dashboard.get("title"), f"{path.name}: no title"
    assert dashboard.get("schemaVersion", 0) >= 36, (
        f"{path.name}: schemaVersion {dashboard.get('schemaVersion')} is too old"
    )
    assert "id" not in dashboard or dashboard["id"] is None, (
        f"{path.name}: a provisioned dashboard must not carry an id"
    )


def test_uids_and_titles_are_unique():
    loaded = [dashboards.load(p) for p in FILES]
    uids = [d["uid"] for d in loaded]
    titles = [d["title"] for d in loaded]
    assert len(set(uids)) == len(uids), uids
    assert len(set(titles)) == len(titles), titles


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_panel_has_title_datasource_and_query(path):
    dashboard = dashboards.load(path)
    panels = visual_panels(dashboard)
    assert panels, f"{path.name}: no panels"
    ids = [p.get("id") for p in dashboards.panels(dashboard)]
    assert len(set(ids)) == len(ids), f"{path.name}: panel ids repeat: {ids}"
    for panel in panels:
        title = panel.get("title", "").strip()
        where = f"{path.name}: panel {title or panel.get('id')!r}"
        assert title, f"{where}: no title"
        source = dashboards.datasource_of(panel)
        assert source.get("uid") in DATASOURCES, (
            f"{where}: data source {source} is not one of {sorted(DATASOURCES)} (by uid)"
        )
        assert source.get("type") in (None, DATASOURCES[source["uid"]]), (
            f"{where}: data source type {source.get('type')}"
        )
        targets = panel.get("targets") or []
        assert any((t.get("expr") or "").strip() for t in targets), f"{where}: no target with a query"
        for target in targets:
            assert (target.get("expr") or "").strip(), f"{where}: target {target.get('refId')} has an empty query"
            target_source = dashboards.datasource_of(panel, target)
            assert target_source.get("uid") in DATASOURCES, (
                f"{where}: target {target.get('refId')} data source {target_source}"
            )
        position = panel.get("gridPos", {})
        assert position.get("x", 0) + position.get("w", 0) <= 24, f"{where}: wider than the grid"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_variables_are_only_regex_matchers(path):
    """A raw query gets `.+` for a variable, which is only right inside =~"..."."""
    dashboard = dashboards.load(path)
    for panel in visual_panels(dashboard):
        for target in panel.get("targets") or []:
            expr = target.get("expr") or ""
            for name in set(dashboards.variable_uses(expr)):
                outside = re.sub(r'=~\s*"(\$' + name + r"|\$\{" + name + r'(:\w+)?\})"', "", expr)
                assert name not in dashboards.variable_uses(outside), (
                    f'{path.name}: panel {panel["title"]!r} uses ${name} outside a =~"${name}" matcher: {expr}'
                )
    # Substitution knows every variable a query uses.
    dashboards.prometheus_queries(dashboard)


def test_every_prometheus_query_parses(promtool, tmp_path):
    """One recording rule per query: promtool parses every expression."""
    groups, where = [], {}
    for path in FILES:
        rules = []
        for number, (title, expr) in enumerate(dashboards.prometheus_queries(dashboards.load(path))):
            record = f"dashboard:{path.stem.replace('-', '_')}:q{number}"
            rules.append({"record": record, "expr": expr})
            where[record] = f"{path.name}: {title}: {expr}"
        groups.append({"name": path.stem, "rules": rules})
    assert where, "no Prometheus queries in the dashboards"
    rule_file = tmp_path / "dashboards.yml"
    rule_file.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False, width=10_000))
    result = subprocess.run([promtool, "check", "rules", str(rule_file)], capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    failing = [text for record, text in where.items() if f'"{record}"' in output]
    assert result.returncode == 0, f"promtool check rules on the dashboards' queries:\n{output}\n" + "\n".join(failing)
    assert f"SUCCESS: {len(where)} rules found" in output, output


def test_a_bad_query_fails_the_parse_check(promtool, tmp_path):
    rule_file = tmp_path / "bad.yml"
    rule_file.write_text(
        yaml.safe_dump({"groups": [{"name": "x", "rules": [{"record": "dashboard:bad", "expr": "sum by (le (x)"}]}]})
    )
    result = subprocess.run([promtool, "check", "rules", str(rule_file)], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0


def test_the_overview_covers_the_service():
    """The issue's list: requests and errors by route and status, latency,
    tokens by grant, logins and failures, lockouts, rate limits,
    revocations, DB connections active vs max, worker memory; and a logs
    panel on Loki."""
    overview = dashboards.load(dashboards.DASHBOARDS / "gatehouse-overview.json")
    used = set().union(*(dashboards.metric_names(expr) for _, expr in dashboards.prometheus_queries(overview)))
    assert used >= {
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "oauth_token_issued_total",
        "oauth_login_attempts_total",
        "oauth_login_failures_total",
        "oauth_account_lockouts_total",
        "oauth_rate_limited_total",
        "oauth_token_revoked_total",
        "oauth_database_connections_active",
        "oauth_database_connections_max",
        "oauth_worker_resident_memory_bytes",
    }
    exprs = " ".join(expr for _, expr in dashboards.prometheus_queries(overview))
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}," in exprs
    logs = [p for p in dashboards.panels(overview) if dashboards.datasource_of(p).get("uid") == "loki"]
    assert logs and all(p["type"] == "logs" for p in logs), "the overview has no Loki logs panel"


def declared_app_metrics():
    """The names the app's /metrics exposes (prometheus_client: a counter
    gets _total, a histogram _bucket, _sum and _count)."""
    names = set()
    for kind, name in re.findall(r'\b(Counter|Gauge|Histogram|Summary)\(\s*"(\w+)"', APP_METRICS.read_text()):
        if kind == "Counter":
            names.add(name if name.endswith("_total") else f"{name}_total")
        elif kind == "Gauge":
            names.add(name)
        else:
            names |= (
                {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
                if kind == "Histogram"
                else {f"{name}_sum", f"{name}_count"}
            )
    return names


def declared_backup_metrics():
    return set(re.findall(r'metrics\.add\(\s*"(\w+)"', BACKUP_TOOL.read_text()))


def test_every_metric_name_has_a_source():
    """Exporter metrics by prefix; the app's and the backup tool's by name."""
    app, backup = declared_app_metrics(), declared_backup_metrics()
    assert app and backup
    unknown = {}
    for name, places in dashboards.all_metric_names().items():
        if name == "up" or name.startswith(EXPORTER_PREFIXES):
            continue
        if name.startswith(("oauth_", "http_")) and name in app:
            continue
        if name.startswith(("gatehouse_backup_", "gatehouse_binlog_", "gatehouse_restore_")) and name in backup:
            continue
        unknown[name] = sorted(places)
    assert not unknown, f"metric names no exporter, app metric or backup metric provides: {unknown}"


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket{job="gatehouse", le!="+Inf"}[1m])))',
            {"http_request_duration_seconds_bucket"},
        ),
        ("sum without (reason) (rate(oauth_login_failures_total[5m] offset 1h))", {"oauth_login_failures_total"}),
        (
            "a_total / on (instance) group_left (pid, version) b_info unless ignoring (job) c",
            {"a_total", "b_info", "c"},
        ),
        ('{__name__="up", job="node"} == bool 1 and {__name__=~"ignored.*"}', {"up"}),
        (
            "time() - gatehouse_backup_last_success_timestamp_seconds > 2 * 3600 + 1e3 - 0x1F",
            {"gatehouse_backup_last_success_timestamp_seconds"},
        ),
        ('label_replace(up, "dst", "$1", "instance", "(.*):.*") or vector(0)', {"up"}),
        ("sum(rate(x_total[5m:30s])) by (job) > Inf or NaN", {"x_total"}),
        ("job:up:sum / count(up) @ 1609746000", {"job:up:sum", "up"}),
        ('count_values("version", mysql_version_info) # a comment naming not_a_metric', {"mysql_version_info"}),
        ("AND_count + sum by(le)(rate(h_bucket[1m]))", {"AND_count", "h_bucket"}),
    ],
)
def test_metric_names(expr, names):
    assert dashboards.metric_names(expr) == names


def test_substitution_for_raw_queries():
    dashboard = {
        "templating": {
            "list": [{"name": "instance", "type": "query"}, {"name": "step", "type": "interval", "query": "5m,10m"}]
        }
    }
    expr = 'rate(x{instance=~"$instance"}[$__rate_interval]) + rate(y{instance=~"${instance:regex}"}[$step])'
    assert dashboards.substitute(expr, dashboard) == 'rate(x{instance=~".+"}[1m]) + rate(y{instance=~".+"}[5m])'
    with pytest.raises(ValueError, match="typo"):
        dashboards.substitute('x{a=~"$typo"}', dashboard)
