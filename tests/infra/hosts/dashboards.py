"""The Grafana dashboards and alert rules of monitoring/, read as data.

Pure helpers (no testinfra): the controller's tests
(tests/infra/controller/test_dashboards.py) check the JSON and the PromQL
offline, and the lab's checks send the same queries to a real Prometheus.
A query comes out with the dashboard's variables replaced by values that
work when it is sent raw to Prometheus: Grafana's built-in intervals by a
fixed duration, the dashboard's own variables (used only as `=~"$var"`
matchers) by `.+`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
DASHBOARDS = REPO / "monitoring" / "grafana" / "dashboards"
RULES = REPO / "monitoring" / "prometheus" / "rules"

# Grafana's built-in variables, as a raw query needs them.
BUILTIN_VARIABLES = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__interval_ms": "60000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}
# A dashboard variable ($name, ${name}, ${name:format}, [[name]]).
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")

# PromQL words that are not metric names (the lexer reads them case-insensitively).
KEYWORDS = {
    "and", "or", "unless", "atan2", "bool", "offset",
    "by", "without", "on", "ignoring", "group_left", "group_right",
    "inf", "nan",
}  # fmt: skip
_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_NAME_MATCHER = re.compile(r'__name__\s*=\s*("(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`)')
_SELECTOR = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_MODIFIER_LABELS = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE)
_OFFSET = re.compile(r"\boffset\s+-?[0-9a-zA-Z]+", re.IGNORECASE)
_AT = re.compile(r"@\s*(start\s*\(\s*\)|end\s*\(\s*\)|[-+0-9.eE]+)")
_COMMENT = re.compile(r"#[^\n]*")
# An identifier that does not continue a number (1e5, 0x1f) or a word, and is not a call.
_IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][A-Za-z0-9_:]*)(?![\w:])(?!\s*\()")


def dashboard_files() -> list[Path]:
    """Every dashboard JSON of monitoring/grafana/dashboards/, sorted."""
    return sorted(DASHBOARDS.glob("*.json"))


def load(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def panels(dashboard: dict) -> list[dict]:
    """Every panel of a dashboard, rows included, and the panels inside
    rows (a collapsed row keeps its panels in its own `panels`)."""
    found = []

    def walk(items):
        for panel in items or []:
            found.append(panel)
            walk(panel.get("panels"))

    walk(dashboard.get("panels"))
    return found


def datasource_of(panel: dict, target: dict | None = None) -> dict:
    """The data source a target queries (its own, else its panel's), as a dict."""
    source = (target or {}).get("datasource") or panel.get("datasource") or {}
    if isinstance(source, str):  # the old style: a data source's name or uid
        return {"uid": source}
    return source


def is_prometheus(source: dict) -> bool:
    return source.get("type") == "prometheus" or (not source.get("type") and source.get("uid") == "prometheus")


def variables(dashboard: dict) -> dict[str, str]:
    """The dashboard's variables and what a raw query gets instead of each:
    an interval variable its first value, a constant its value, any other
    (query, custom, textbox: used as regex matchers) `.+`."""
    values = {}
    for variable in dashboard.get("templating", {}).get("list", []):
        kind = variable.get("type")
        if kind == "interval":
            values[variable["name"]] = str(variable.get("query") or "1m").split(",")[0].strip() or "1m"
        elif kind == "constant":
            values[variable["name"]] = str(variable.get("query", ""))
        else:
            values[variable["name"]] = ".+"
    return values


def substitute(expr: str, dashboard: dict) -> str:
    """`expr` with Grafana's and the dashboard's variables replaced; an
    unknown variable is an error (a typo would otherwise query nothing)."""
    known = {**variables(dashboard), **BUILTIN_VARIABLES}

    def value(match):
        name = match.group(1) or match.group(2) or match.group(3)
        if name not in known:
            raise ValueError(f"unknown variable ${name} in {expr!r}")
        return known[name]

    return VARIABLE.sub(value, expr)


def variable_uses(expr: str) -> list[str]:
    """The names of the non-built-in variables an expression uses."""
    return [
        name
        for match in VARIABLE.finditer(expr)
        if (name := match.group(1) or match.group(2) or match.group(3)) not in BUILTIN_VARIABLES
    ]


def prometheus_queries(dashboard: dict) -> list[tuple[str, str]]:
    """(panel title, expr with variables substituted) of every target that
    queries Prometheus, in panel order."""
    queries = []
    for panel in panels(dashboard):
        for target in panel.get("targets") or []:
            if is_prometheus(datasource_of(panel, target)) and (target.get("expr") or "").strip():
                queries.append((panel.get("title", ""), substitute(target["expr"], dashboard)))
    return queries


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads, as written (a histogram's
    `_bucket`, a counter's `_total` included): not functions, aggregations,
    keywords, label names of by/without/on/ignoring/group_*, label matchers,
    strings, durations or numbers. A `{__name__="x"}` selector names x."""
    names = {m.group(1)[1:-1] for m in _NAME_MATCHER.finditer(expr)}
    text = _STRING.sub(" ", expr)
    text = _COMMENT.sub(" ", text)
    text = _SELECTOR.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _MODIFIER_LABELS.sub(" ", text)
    text = _OFFSET.sub(" ", text)
    text = _AT.sub(" ", text)
    names |= {word for word in _IDENTIFIER.findall(text) if word.lower() not in KEYWORDS}
    return names


def rule_files() -> list[Path]:
    """Every rule file of monitoring/prometheus/rules/, sorted."""
    return sorted(RULES.glob("*.yml"))


def rule_expressions() -> list[tuple[str, str]]:
    """(alert or record name, expr) of every rule in monitoring/prometheus/rules/."""
    found = []
    for path in rule_files():
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            for rule in group.get("rules", []):
                found.append((rule.get("alert") or rule.get("record"), rule["expr"]))
    return found


def all_metric_names() -> dict[str, set[str]]:
    """Every metric name the dashboards and the rules read, with where."""
    used: dict[str, set[str]] = {}
    for path in dashboard_files():
        dashboard = load(path)
        for title, expr in prometheus_queries(dashboard):
            for name in metric_names(expr):
                used.setdefault(name, set()).add(f"{path.name}: {title}")
    for name, expr in rule_expressions():
        for metric in metric_names(expr):
            used.setdefault(metric, set()).add(f"rule {name}")
    return used


def promtool() -> str:
    """promtool for the offline checks: the copy tests/lab/monitoring-tools.sh
    puts in .lab/bin/ (Debian 12's, as on the hosts), else one on PATH."""
    local = REPO / ".lab" / "bin" / "promtool"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    found = shutil.which("promtool")
    if found:
        return found
    raise FileNotFoundError(
        f"promtool is not in {local} nor on PATH: run tests/lab/monitoring-tools.sh (as root) to fetch it"
    )
