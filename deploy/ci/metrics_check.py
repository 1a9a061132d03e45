#!/usr/bin/env python3
"""Checks that the dashboard and the alert rules use only metrics the proxy exports.

    metrics_check.py names  --repo ROOT FILE...      metric names in dashboards/rules/tests
    metrics_check.py dashboard --repo ROOT DASHBOARD.json --rules-out FILE
    metrics_check.py coverage RULES.yaml TESTS.yaml

`names` finds every metric name in the given files and checks it against the
proxy's own list: the `token_sidecar_*` string literals in src/ (where
src/metrics.rs or src/metrics/ exists and names some; SPEC.md's table is the least of them),
else SPEC.md's table as written below. A histogram adds
_bucket/_sum/_count. Besides token_sidecar_*, only the few metrics other
exporters provide (ALLOWED_FOREIGN) may appear.

`dashboard` checks the Grafana dashboard's structure, and writes each of its
queries (Grafana variables replaced by plain values) as a recording rule to
--rules-out, so that `promtool check rules` parses every query.

`coverage` checks that every alert has a summary, a description, a severity,
and promtool unit tests where it fires and where it does not.

Stdlib and PyYAML only.
"""
import argparse
import json
import pathlib
import re
import sys

import yaml

# SPEC.md, "Metrics": the contract. Name -> type.
SPEC_METRICS = {
    "token_sidecar_requests_total": "counter",
    "token_sidecar_request_duration_seconds": "histogram",
    "token_sidecar_upstream_errors_total": "counter",
    "token_sidecar_in_flight_requests": "gauge",
    "token_sidecar_unauthorized_retries_total": "counter",
    "token_sidecar_token_requests_total": "counter",
    "token_sidecar_token_expiry_timestamp_seconds": "gauge",
}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

# Metrics that are not the proxy's but may appear in queries:
ALLOWED_FOREIGN = {
    # Prometheus sets it for every scrape target (1 scraped, 0 failed).
    "up": "Prometheus (scrape health)",
    # kube-state-metrics: the kubelet's readiness verdict for the sidecar, as an
    # init container (native sidecar) or an ordinary container.
    "kube_pod_init_container_status_ready": "kube-state-metrics",
    "kube_pod_container_status_ready": "kube-state-metrics",
}

# A token_sidecar_ name as it appears in any text. A name followed by a regex
# metacharacter is a pattern (`{__name__=~"token_sidecar_.+"}`), handled apart.
NAME_RE = re.compile(r"token_sidecar_[a-z_]+(?![a-z_.*+?\[(|])")
PREFIX_PATTERN_RE = re.compile(r"token_sidecar_[a-z_]*(?=[.*+?\[(|])")

PROMQL_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
    "group_right", "bool", "offset", "inf", "nan", "atan2", "start", "end",
}


def fail(errors, msg):
    errors.append(msg)
    print(f"  FAIL {msg}")


def spec_table_names(spec_path):
    """The metric names in SPEC.md's metrics table, or None when it is not there."""
    try:
        text = spec_path.read_text()
    except OSError:
        return None
    return dict(re.findall(r"^\|\s*`(token_sidecar_[a-z_]+)`\s*\|\s*(\w+)\s*\|", text, re.M))


def known_metrics(repo):
    """(allowed names, where they came from, warnings)."""
    warnings = []
    spec = dict(SPEC_METRICS)
    table = spec_table_names(repo.parent / "shared" / "SPEC.md")
    if table is not None and table != SPEC_METRICS:
        warnings.append(
            "SPEC.md's metrics table differs from the list in deploy/ci/metrics_check.py: "
            f"SPEC.md {sorted(table.items())} vs script {sorted(SPEC_METRICS.items())}; using SPEC.md's")
        spec = table

    def expand(names):
        out = set()
        for n in names:
            out.add(n)
            if spec.get(n) == "histogram":
                out.update(n + s for s in HISTOGRAM_SUFFIXES)
        return out

    src = repo / "src"
    if (src / "metrics.rs").is_file() or (src / "metrics" / "mod.rs").is_file():
        found = set()
        for rs in sorted(src.rglob("*.rs")):
            found.update(re.findall(r'"(token_sidecar_[a-z_]+)"', rs.read_text(errors="replace")))
        # Names the code writes out with a histogram suffix are the same family.
        base = set()
        for n in found:
            for s in HISTOGRAM_SUFFIXES:
                if n.endswith(s) and n[: -len(s)] in spec:
                    n = n[: -len(s)]
            base.add(n)
        if base:
            missing = sorted(set(spec) - base)
            if missing:
                warnings.append(f"SPEC.md metrics not (yet) named in src/: {', '.join(missing)}")
            # SPEC.md lists the metrics the proxy exports at least; the ones it adds (rate
            # limits, config generation, needs_login) are exported all the same.
            return expand(base), "the token_sidecar_* literals in src/", warnings
        warnings.append("src/ names no token_sidecar_* literal; using SPEC.md's list")
    return expand(spec), "SPEC.md's metrics table", warnings


# ---------------------------------------------------------------- PromQL parsing

def strip_promql(expr):
    """Removes what cannot hold a metric name: strings, label matchers, ranges,
    grouping label lists, comments."""
    expr = re.sub(r"#[^\n]*", " ", expr)
    expr = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    expr = re.sub(r"\{[^{}]*\}", " ", expr)
    expr = re.sub(r"\[[^\[\]]*\]", " ", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", " ", expr)
    return expr


def promql_metric_names(expr):
    """Metric names used by a PromQL expression (identifiers that are neither
    functions, aggregations, keywords nor numbers)."""
    names = set()
    text = strip_promql(expr)
    for m in re.finditer(r"(?<![\w.:$])([a-zA-Z_:][a-zA-Z0-9_:]*)", text):
        ident = m.group(1)
        rest = text[m.end():].lstrip()
        if rest.startswith("("):
            continue  # a function or aggregation
        if ident.lower() in PROMQL_KEYWORDS:
            continue
        names.add(ident)
    # {__name__="x"} selects by name too.
    names.update(re.findall(r'__name__\s*=\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"', expr))
    return names


def grafana_to_promql(query):
    """A Grafana query as plain PromQL: label_values(X, l) -> X, variables -> values."""
    m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", query, re.S)
    if m:
        query = m.group(1)
    elif re.fullmatch(r"\s*label_values\(\s*\w+\s*\)\s*", query):
        return ""
    query = query.replace("$__rate_interval", "5m").replace("$__interval", "1m")
    query = query.replace("${__range}", "1h").replace("$__range", "1h")
    return re.sub(r"\$\{?\w+\}?", ".*", query)


# ---------------------------------------------------------------- expressions per file

def dashboard_queries(dash):
    """(where, query) for every Grafana query in the dashboard."""
    out = []

    def panels(ps):
        for p in ps:
            yield p
            yield from panels(p.get("panels", []))

    for p in panels(dash.get("panels", [])):
        for t in p.get("targets", []):
            if "expr" in t:
                out.append((f'panel {p.get("id")} "{p.get("title")}" target {t.get("refId")}', t["expr"]))
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v.get("query")
            if isinstance(q, dict):
                q = q.get("query", "")
            out.append((f'variable ${v.get("name")}', q or ""))
    return out


def file_expressions(path):
    """(where, PromQL) for a dashboard, a rules file or a promtool test file."""
    text = path.read_text()
    if path.suffix == ".json":
        return [(w, grafana_to_promql(q)) for w, q in dashboard_queries(json.loads(text))]
    doc = yaml.safe_load(text) or {}
    out = []
    for g in doc.get("groups", []):
        for r in g.get("rules", []):
            out.append((f'rule {r.get("alert") or r.get("record")}', r.get("expr", "")))
    for t in doc.get("tests", []):
        for s in t.get("input_series", []):
            out.append((f'test "{t.get("name")}" input series', s["series"]))
        for e in t.get("promql_expr_test", []):
            out.append((f'test "{t.get("name")}" expr', e["expr"]))
    return out


def cmd_names(args):
    repo = pathlib.Path(args.repo).resolve()
    allowed, source, warnings = known_metrics(repo)
    for w in warnings:
        print(f"  WARN {w}")
    print(f"  allowed token_sidecar_* names ({source}): {', '.join(sorted(allowed))}")
    errors = []
    for f in args.files:
        path = pathlib.Path(f)
        text = path.read_text()
        # 1. Every token_sidecar_* name anywhere in the file (queries, comments, text).
        used = set(NAME_RE.findall(text))
        for n in sorted(used - allowed):
            fail(errors, f"{f}: {n} is not a metric token-sidecar exports")
        for p in sorted(set(PREFIX_PATTERN_RE.findall(text))):
            if not any(a.startswith(p) for a in allowed):
                fail(errors, f"{f}: the name pattern {p}... matches no exported metric")
        # 2. Every metric name in every query, token_sidecar_* or not.
        exprs = file_expressions(path)
        for where, expr in exprs:
            for n in sorted(promql_metric_names(expr)):
                if n in allowed or n in ALLOWED_FOREIGN:
                    continue
                fail(errors, f"{f}: {where}: {n} is neither a token-sidecar metric nor in the allowed list")
        print(f"  {f}: {len(exprs)} queries, token_sidecar_* names used: {', '.join(sorted(used)) or 'none'}")
    return errors


# ---------------------------------------------------------------- dashboard structure

def cmd_dashboard(args):
    errors = []
    path = pathlib.Path(args.dashboard)
    dash = json.loads(path.read_text())
    for key in ("title", "uid", "panels", "templating", "schemaVersion"):
        if key not in dash:
            fail(errors, f"{path}: no {key}")
    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        fail(errors, f"{path}: needs a template variable `datasource` of type datasource, query prometheus")
    ds_ref = {"type": "prometheus", "uid": "${datasource}"}

    ids = set()
    metrics_used = set()

    def walk(ps):
        for p in ps:
            yield p
            yield from walk(p.get("panels", []))

    for p in walk(dash.get("panels", [])):
        pid = p.get("id")
        label = f'panel {pid} "{p.get("title")}"'
        if pid in ids:
            fail(errors, f"{label}: duplicate id")
        ids.add(pid)
        g = p.get("gridPos", {})
        if not all(k in g for k in ("h", "w", "x", "y")) or g.get("x", 0) + g.get("w", 0) > 24:
            fail(errors, f"{label}: gridPos missing or wider than 24")
        if p.get("type") == "row":
            continue
        if not p.get("title"):
            fail(errors, f"panel {pid}: no title")
        if p.get("datasource") != ds_ref:
            fail(errors, f"{label}: datasource must be {ds_ref}")
        targets = p.get("targets", [])
        if not targets:
            fail(errors, f"{label}: no targets")
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs):
            fail(errors, f"{label}: duplicate refId")
        for t in targets:
            if t.get("datasource") != ds_ref:
                fail(errors, f"{label} target {t.get('refId')}: datasource must be {ds_ref}")
            if not t.get("expr", "").strip():
                fail(errors, f"{label} target {t.get('refId')}: empty expr")
            metrics_used |= promql_metric_names(grafana_to_promql(t.get("expr", "")))
    for name, v in variables.items():
        if v.get("type") == "query" and v.get("datasource") != ds_ref:
            fail(errors, f"variable ${name}: datasource must be {ds_ref}")

    # What the issue asks the dashboard to show: every metric of the contract.
    wanted = {
        "token_sidecar_requests_total": "requests",
        "token_sidecar_request_duration_seconds_bucket": "latency quantiles",
        "token_sidecar_upstream_errors_total": "errors by reason",
        "token_sidecar_in_flight_requests": "in-flight requests",
        "token_sidecar_unauthorized_retries_total": "401 replays",
        "token_sidecar_token_requests_total": "refresh outcomes",
        "token_sidecar_token_expiry_timestamp_seconds": "token expiry",
    }
    for m, what in wanted.items():
        if m not in metrics_used:
            fail(errors, f"{path}: no panel queries {m} ({what})")
    if not any("histogram_quantile" in t.get("expr", "") for p in walk(dash["panels"]) for t in p.get("targets", [])):
        fail(errors, f"{path}: no histogram_quantile over the request duration histogram")

    # Every query as a recording rule, for `promtool check rules`.
    rules = []
    for i, (where, q) in enumerate(dashboard_queries(dash)):
        expr = grafana_to_promql(q)
        if not expr.strip():
            continue
        # A bare selector such as {__name__=~"..."} is valid PromQL for promtool only
        # with a non-empty matcher, which it has.
        rules.append({"record": f"dashboard:query_{i}", "expr": expr,
                      "labels": {"dashboard_query": where}})
    pathlib.Path(args.rules_out).write_text(yaml.safe_dump(
        {"groups": [{"name": "dashboard-queries", "rules": rules}]}, sort_keys=False))
    print(f"  {path}: {len(ids)} panels, {len(rules)} queries written to {args.rules_out}")
    return errors


# ---------------------------------------------------------------- alert test coverage

def cmd_coverage(args):
    """Every alert in the rules file has a unit test where it fires and one where it does not."""
    errors = []
    rules = yaml.safe_load(pathlib.Path(args.rules).read_text())
    tests = yaml.safe_load(pathlib.Path(args.tests).read_text())
    alerts = [r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r]
    fires, silent = set(), set()
    for t in tests.get("tests", []):
        for a in t.get("alert_rule_test", []):
            (fires if a.get("exp_alerts") else silent).add(a["alertname"])
    for a in alerts:
        if a not in fires:
            fail(errors, f"{args.tests}: no test case where {a} fires")
        if a not in silent:
            fail(errors, f"{args.tests}: no test case where {a} does not fire")
        for r in (r for g in rules["groups"] for r in g["rules"] if r.get("alert") == a):
            ann = r.get("annotations", {})
            if not ann.get("summary") or not ann.get("description"):
                fail(errors, f"{args.rules}: {a} needs a summary and a description")
            if not r.get("labels", {}).get("severity"):
                fail(errors, f"{args.rules}: {a} needs a severity label")
    for a in sorted((fires | silent) - set(alerts)):
        fail(errors, f"{args.tests}: tests an alert that does not exist: {a}")
    print(f"  {len(alerts)} alerts, each with a firing and a non-firing test case: {', '.join(alerts)}")
    return errors


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    n = sub.add_parser("names")
    n.add_argument("--repo", required=True)
    n.add_argument("files", nargs="+")
    d = sub.add_parser("dashboard")
    d.add_argument("--repo", required=True)
    d.add_argument("--rules-out", required=True)
    d.add_argument("dashboard")
    c = sub.add_parser("coverage")
    c.add_argument("rules")
    c.add_argument("tests")
    args = ap.parse_args()
    errors = {"names": cmd_names, "dashboard": cmd_dashboard, "coverage": cmd_coverage}[args.cmd](args)
    if errors:
        print(f"  {len(errors)} problem(s)")
        sys.exit(1)


if __name__ == "__main__":
    main()
