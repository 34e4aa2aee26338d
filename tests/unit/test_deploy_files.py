"""deploy/: the Prometheus scrape config and alert rules, the Grafana provisioning and dashboard.

Two layers. Always (no tools needed): the files parse, every rule is complete, every metric and
label they use is one docs/metrics.md documents, the dashboard's panels are well formed and name
the provisioned datasource. With promtool on PATH (Debian: `apt-get install prometheus`):
`promtool check rules`, `promtool check config`, and `promtool test rules` over
deploy/prometheus/alerts_test.yml, plus proof that the unit tests would notice an alert that
never fires.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from container_support import COMPOSE_FILE, METRICS_PORT, REPOSITORY

PROMETHEUS = REPOSITORY / "deploy" / "prometheus"
ALERTS = PROMETHEUS / "alerts.yml"
ALERTS_TEST = PROMETHEUS / "alerts_test.yml"
SCRAPE_CONFIG = PROMETHEUS / "prometheus.yml"
GRAFANA = REPOSITORY / "deploy" / "grafana"
DATASOURCES = GRAFANA / "provisioning" / "datasources"
DASHBOARD_PROVIDERS = GRAFANA / "provisioning" / "dashboards"
DASHBOARD = GRAFANA / "dashboards" / "tradebot.json"
METRICS_DOC = REPOSITORY / "docs" / "metrics.md"

# The alert package's metrics (issue 6's contracts: bot/alerts, documented in docs/metrics.md by
# its author). Listed here so the rules and dashboard can use them before that page has them;
# once docs/metrics.md lists them this table is redundant, and must agree with it.
# Labels Prometheus adds to every scraped series, and a histogram's bucket bound.
TARGET_LABELS = {"job", "instance"}
SEVERITIES = {"critical", "warning"}


# --- what docs/metrics.md documents -----------------------------------------------------------


def documented_metrics() -> dict[str, tuple[str, set[str]]]:
    """name -> (type, labels), from the tables' rows: | `name` | type | `label`, `label` | ..."""
    metrics: dict[str, tuple[str, set[str]]] = {}
    for line in METRICS_DOC.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and re.fullmatch(r"`tradebot_\w+`", cells[0]):
            metrics[cells[0].strip("`")] = (cells[1], set(re.findall(r"`(\w+)`", cells[2])))
    return metrics


def known_metrics() -> dict[str, tuple[str, set[str]]]:
    documented = documented_metrics()
    known = dict(documented)
    known["up"] = ("gauge", set())
    return known


def series_names(name: str, kind: str) -> list[str]:
    if kind == "histogram":
        return [f"{name}_bucket", f"{name}_sum", f"{name}_count"]
    return [name]


_IDENTIFIER = re.compile(r"(?<![\w:$.])([a-zA-Z_:][\w:]*)\s*(?=[{\[)\s]|$)")
_PROMQL_WORDS = {
    "sum", "by", "without", "rate", "increase", "irate", "histogram_quantile", "max", "min", "avg", "count",
    "absent", "time", "vector", "and", "or", "unless", "on", "ignoring", "group_left", "group_right", "bool",
    "delta", "deriv", "topk", "bottomk", "offset", "le", "clamp_min", "clamp_max", "abs",
}


def metric_names_in(expression: str) -> set[str]:
    """Series names an expression selects (not functions, keywords, label names or values)."""
    without_matchers = re.sub(r"\{[^}]*\}", "{}", expression)
    without_groupings = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", without_matchers)
    without_ranges = re.sub(r"\[[^\]]*\]", "[]", without_groupings)
    names = set()
    for match in _IDENTIFIER.finditer(without_ranges):
        word = match.group(1)
        following = without_ranges[match.end():].lstrip()
        if word in _PROMQL_WORDS or following.startswith("("):
            continue
        names.add(word)
    return names


def label_names_in(expression: str) -> set[str]:
    """Labels an expression groups by or matches on."""
    labels = set()
    for grouping in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", expression):
        labels |= {word.strip() for word in grouping.split(",") if word.strip()}
    for matchers in re.findall(r"\{([^}]*)\}", expression):
        labels |= set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers))
    return labels


def check_expression(expression: str, where: str, known: dict[str, tuple[str, set[str]]], extra_labels: set[str] = frozenset()) -> None:
    series = {series_name: (base, labels) for base, (kind, labels) in known.items() for series_name in series_names(base, kind)}
    used = metric_names_in(expression)
    assert used, f"{where}: no metric found in {expression!r}"
    unknown = sorted(used - set(series))
    assert not unknown, f"{where}: {unknown} not documented in docs/metrics.md"
    allowed = set(TARGET_LABELS) | set(extra_labels)
    for name in used:
        allowed |= series[name][1]
        if name.endswith("_bucket"):
            allowed.add("le")
    stray = sorted(label_names_in(expression) - allowed)
    assert not stray, f"{where}: labels {stray} are not labels of {sorted(used)}"


def test_the_metric_name_reader_reads_promql() -> None:
    expression = 'histogram_quantile(0.99, sum by (le, kind) (rate(tradebot_ingest_receive_lag_seconds_bucket{job="tradebot"}[5m]))) > up'
    assert metric_names_in(expression) == {"tradebot_ingest_receive_lag_seconds_bucket", "up"}
    assert label_names_in(expression) == {"le", "kind", "job"}
    assert metric_names_in("time() - tradebot_nightly_last_run_timestamp_seconds") == {"tradebot_nightly_last_run_timestamp_seconds"}
    assert "tradebot_engine_trading_state" in documented_metrics()
    with pytest.raises(AssertionError, match="not documented"):
        check_expression("rate(tradebot_no_such_metric_total[5m])", "example", known_metrics())
    with pytest.raises(AssertionError, match="labels"):
        check_expression("sum by (status) (tradebot_engine_fills_total)", "example", known_metrics())


# --- alerts.yml -------------------------------------------------------------------------------


def alert_rules() -> list[dict]:
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_every_alert_rule_is_complete() -> None:
    rules = alert_rules()
    names = [rule.get("alert") for rule in rules]
    assert all(names) and len(names) == len(set(names)), names
    for rule in rules:
        assert isinstance(rule.get("expr"), str) and rule["expr"].strip(), rule
        assert rule.get("labels", {}).get("severity") in SEVERITIES, rule["alert"]
        annotations = rule.get("annotations", {})
        assert annotations.get("summary") and annotations.get("description"), rule["alert"]


def test_the_alert_rules_cover_what_the_issue_asks() -> None:
    expressions = {rule["alert"]: re.sub(r"\s+", "", rule["expr"]) for rule in alert_rules()}
    wanted = {
        "daemon down": 'up{job="tradebot"}==0',
        "daemon absent": 'absent(up{job="tradebot"})',
        "stream stale": "tradebot_ingest_stale_streams>0",
        "kill switch on": 'tradebot_engine_trading_state{state="HALTED"}==1',
        "model stale": "tradebot_model_stale==1",
        "nightly failed": "tradebot_nightly_last_run_success==0",
        "alerts dropped": "increase(tradebot_alerts_dropped_total[",
    }
    for what, expression in wanted.items():
        assert any(expression in found for found in expressions.values()), f"no rule for {what}: {expression}"


def test_alert_rules_use_only_documented_metrics_and_their_labels() -> None:
    known = known_metrics()
    for rule in alert_rules():
        check_expression(rule["expr"], f"alert {rule['alert']}", known)
        labels = set(TARGET_LABELS) | {label for name in metric_names_in(rule["expr"]) for label in known[name][1]}
        templated = set()
        for text in rule["annotations"].values():
            templated |= set(re.findall(r"\$labels\.(\w+)", text))
        assert templated <= labels, f"alert {rule['alert']} templates labels {sorted(templated - labels)} its series lack"


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    document = yaml.safe_load(ALERTS_TEST.read_text(encoding="utf-8"))
    assert document["rule_files"] == [ALERTS.name]
    firing, quiet = set(), set()
    for test in document["tests"]:
        for case in test["alert_rule_test"]:
            (firing if case["exp_alerts"] else quiet).add(case["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert names - firing == set(), "alerts never shown to fire"
    assert names - quiet == set(), "alerts never shown to stay quiet"


# --- prometheus.yml -------------------------------------------------------------------------------


def test_the_scrape_config_reaches_the_compose_services_and_loads_the_rules() -> None:
    config = yaml.safe_load(SCRAPE_CONFIG.read_text(encoding="utf-8"))
    assert config["rule_files"] == [ALERTS.name]  # relative: resolved beside prometheus.yml
    targets = {job["job_name"]: [target for group in job["static_configs"] for target in group["targets"]] for job in config["scrape_configs"]}
    assert targets == {"tradebot": [f"bot:{METRICS_PORT}"], "tradebot-nightly": [f"nightly:{METRICS_PORT}"]}
    services = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"]
    for host in ("bot", "nightly"):
        assert host in services, f"the scrape target {host} is not a compose service"
    # The jobs the rules name are the ones scraped.
    for rule in alert_rules():
        for job in re.findall(r'job="([^"]+)"', rule["expr"]):
            assert job in targets, f"alert {rule['alert']} names job {job}, which is not scraped"


# --- Grafana ----------------------------------------------------------------------------------


def provisioned_datasources() -> list[dict]:
    sources = []
    for path in sorted(DATASOURCES.glob("*.yml")):
        sources += yaml.safe_load(path.read_text(encoding="utf-8"))["datasources"]
    return sources


def dashboard_panels(dashboard: dict) -> list[dict]:
    panels = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels += panel.get("panels", [])
    return panels


def test_the_datasource_is_the_compose_prometheus() -> None:
    [source] = provisioned_datasources()
    assert source["type"] == "prometheus" and source["uid"]
    assert source["url"] == "http://prometheus:9090"
    assert "prometheus" in yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"]


def test_the_dashboard_loads_and_its_panels_are_well_formed() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] and dashboard["title"]
    panels = dashboard_panels(dashboard)
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    [source] = provisioned_datasources()
    data_panels = [panel for panel in panels if panel["type"] != "row"]
    assert len(data_panels) >= 10
    for panel in data_panels:
        where = f"panel {panel['id']} {panel['title']!r}"
        assert panel["datasource"] == {"type": source["type"], "uid": source["uid"]}, where
        assert panel["targets"], f"{where} has no query"
        references = [target["refId"] for target in panel["targets"]]
        assert len(references) == len(set(references)), where
        for target in panel["targets"]:
            assert target.get("datasource", panel["datasource"]) == panel["datasource"], where
            assert target["expr"].strip(), where
        position = panel["gridPos"]
        assert 0 <= position["x"] and position["x"] + position["w"] <= 24, where


def test_dashboard_panels_do_not_overlap() -> None:
    cells: dict[tuple[int, int], int] = {}
    for panel in dashboard_panels(json.loads(DASHBOARD.read_text(encoding="utf-8"))):
        position = panel["gridPos"]
        for x in range(position["x"], position["x"] + position["w"]):
            for y in range(position["y"], position["y"] + position["h"]):
                assert (x, y) not in cells, f"panels {cells.get((x, y))} and {panel['id']} overlap"
                cells[(x, y)] = panel["id"]


def test_dashboard_queries_use_only_documented_metrics_and_their_labels() -> None:
    known = known_metrics()
    used: set[str] = set()
    for panel in dashboard_panels(json.loads(DASHBOARD.read_text(encoding="utf-8"))):
        for target in panel.get("targets", []):
            check_expression(target["expr"], f"panel {panel['title']!r}", known)
            used |= metric_names_in(target["expr"])
            legend_labels = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
            available = set(TARGET_LABELS) | label_names_in(target["expr"])
            if not re.search(r"\b(sum|max|min|avg|histogram_quantile)\b", target["expr"]):
                available |= {label for name in metric_names_in(target["expr"]) for label in known.get(name, ("", set()))[1]}
            assert legend_labels <= available, f"panel {panel['title']!r}: legend uses {sorted(legend_labels - available)}"
    # What the issue asks the dashboard to show.
    for wanted in ("tradebot_ingest_messages_total", "tradebot_ingest_receive_lag_seconds_bucket", "tradebot_ingest_backlog_events",
                   "tradebot_engine_decision_latency_seconds_bucket", "tradebot_engine_equity", "tradebot_engine_trading_state",
                   "tradebot_engine_orders_total", "tradebot_engine_fills_total", "tradebot_engine_guard_verdicts_total",
                   "tradebot_model_age_seconds", "tradebot_model_stale", "tradebot_nightly_last_run_success",
                   "tradebot_alerts_sent_total", "tradebot_alerts_failed_total", "tradebot_alerts_dropped_total"):
        assert wanted in used, f"the dashboard does not show {wanted}"


def test_the_dashboard_provider_reads_where_compose_mounts_the_dashboards() -> None:
    [provider] = [provider for path in sorted(DASHBOARD_PROVIDERS.glob("*.yml"))
                  for provider in yaml.safe_load(path.read_text(encoding="utf-8"))["providers"]]
    grafana = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"]["grafana"]
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in grafana["volumes"]}
    assert mounts[provider["options"]["path"]] == "./deploy/grafana/dashboards"
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"


# --- promtool ---------------------------------------------------------------------------------


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (Debian/Ubuntu: apt-get install prometheus; or a Prometheus release tarball)")
    return path


def run_promtool(*arguments: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *arguments], capture_output=True, text=True, timeout=60, check=False, cwd=cwd)


def test_promtool_checks_the_rules() -> None:
    result = run_promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


def test_promtool_checks_the_scrape_config(tmp_path: Path) -> None:
    """On a copy of deploy/prometheus: rule_files resolve beside the config, as in the container."""
    copy = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS, copy)
    result = run_promtool("check", "config", str(copy / SCRAPE_CONFIG.name))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    result = run_promtool("test", "rules", str(ALERTS_TEST))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_catch_an_alert_that_never_fires(tmp_path: Path) -> None:
    """Each alert in turn replaced by one that can never fire: the unit tests must fail, naming it."""
    promtool()
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    for group_index, group in enumerate(document["groups"]):
        for rule_index, rule in enumerate(group["rules"]):
            broken = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
            broken["groups"][group_index]["rules"][rule_index]["expr"] = "vector(1) == 0"
            copy = tmp_path / rule["alert"]
            copy.mkdir()
            (copy / ALERTS.name).write_text(yaml.safe_dump(broken), encoding="utf-8")
            shutil.copy(ALERTS_TEST, copy / ALERTS_TEST.name)
            result = run_promtool("test", "rules", str(copy / ALERTS_TEST.name))
            assert result.returncode != 0, f"the unit tests pass with {rule['alert']} never firing"
            assert f"alertname: {rule['alert']}" in result.stdout + result.stderr
