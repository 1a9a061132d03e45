#!/usr/bin/env python3
"""Checks on the Kubernetes manifests in deploy/kubernetes, beyond their schemas.

    manifests_check.py render DIR
        Prints DIR's kustomization rendered as multi-document YAML, for machines
        without kubectl or kustomize. A small subset of kustomize: resources (files
        and directories), components, configMapGenerator (files=, no name hash,
        behavior replace), images, JSON6902 patches with add/replace/remove, and
        `$patch: delete` patches; `labels` are not applied. Every file it names
        must exist and parse.

    manifests_check.py dockerfile deploy/Dockerfile --rendered RENDERED.yaml --repo ROOT
        Checks that the image fits the manifests and Cargo.toml: the binary's
        name, the config path, a numeric non-root USER equal to the pod's
        runAsUser, the store VOLUME, and the build's ignore file.

    manifests_check.py check RENDERED.yaml --core-out FILE [--expect-monitor KIND]
        Checks the rendered documents: the sidecar and its probes, the security
        settings, the config/secret/store volumes against proxy.toml (from the
        ConfigMap), the Service, the ServiceMonitor/PodMonitor (the Prometheus
        Operator's CRDs, which kubernetes-validate has no schema for: checked
        structurally here). Writes the other documents to FILE for
        kubernetes-validate.

Stdlib (tomllib: Python >= 3.11) and PyYAML only.
"""
import argparse
import copy
import json
import pathlib
import re
import sys
import tomllib

import yaml

import shared_store

errors = []


def fail(msg):
    errors.append(msg)
    print(f"  FAIL {msg}")


def ok(msg):
    print(f"  ok   {msg}")


# ---------------------------------------------------------------- fallback renderer

def load_yaml_docs(path):
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except (OSError, yaml.YAMLError) as e:
        raise SystemExit(f"  FAIL {path}: {e}")
    for d in docs:
        if not isinstance(d, dict) or "kind" not in d or "apiVersion" not in d:
            raise SystemExit(f"  FAIL {path}: a document without kind/apiVersion")
    return docs


def json_pointer_parts(path):
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]


def apply_json6902(doc, ops):
    for op in ops:
        *parents, last = json_pointer_parts(op["path"])
        node = doc
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if isinstance(node, list):
            last = len(node) if last == "-" else int(last)
        if op["op"] in ("add", "replace"):
            if op["op"] == "replace" and (last not in node if isinstance(node, dict) else last >= len(node)):
                raise SystemExit(f"  FAIL patch: {op['path']} does not exist")
            if isinstance(node, list) and op["op"] == "add":
                node.insert(last, op["value"])
            else:
                node[last] = op["value"]
        elif op["op"] == "remove":
            del node[last]
        else:
            raise SystemExit(f"  FAIL patch: op {op['op']} not supported by the fallback renderer")


def render(directory, docs=None):
    """The documents of a kustomization; for a Component, `docs` are the ones it
    is applied to (its patches apply to them too)."""
    directory = pathlib.Path(directory)
    kpath = next((directory / n for n in ("kustomization.yaml", "kustomization.yml", "Kustomization")
                  if (directory / n).is_file()), None)
    if kpath is None:
        raise SystemExit(f"  FAIL {directory}: no kustomization.yaml")
    k = yaml.safe_load(kpath.read_text()) or {}
    docs = list(docs or [])
    for res in k.get("resources", []):
        p = directory / res
        if p.is_dir():
            docs += render(p)
        elif p.is_file():
            docs += load_yaml_docs(p)
        else:
            raise SystemExit(f"  FAIL {kpath}: resource {res} does not exist")
    for comp in k.get("components", []):
        docs = render(directory / comp, docs)
    for gen in k.get("configMapGenerator", []):
        data = {}
        for f in gen.get("files", []):
            key, _, fname = f.partition("=") if "=" in f else (pathlib.Path(f).name, "", f)
            fp = directory / fname
            if not fp.is_file():
                raise SystemExit(f"  FAIL {kpath}: configMapGenerator file {fname} does not exist")
            data[key] = fp.read_text()
        for lit in gen.get("literals", []):
            key, _, val = lit.partition("=")
            data[key] = val
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": gen["name"]}, "data": data}
        same = [i for i, d in enumerate(docs) if d.get("kind") == "ConfigMap" and d["metadata"].get("name") == gen["name"]]
        if gen.get("behavior") == "replace" and same:
            docs[same[0]] = cm
        elif gen.get("behavior") in ("replace", "merge"):
            raise SystemExit(f"  FAIL {kpath}: configMapGenerator {gen['name']} has nothing to {gen['behavior']}")
        else:
            docs.append(cm)
    for patch in k.get("patches", []):
        target = patch.get("target", {})
        ops = yaml.safe_load(patch["patch"]) if "patch" in patch else yaml.safe_load((directory / patch["path"]).read_text())
        if isinstance(ops, dict) and ops.get("$patch") == "delete":
            gone = [d for d in docs if d.get("kind") == ops.get("kind")
                    and d["metadata"].get("name") == ops.get("metadata", {}).get("name")]
            if not gone:
                raise SystemExit(f"  FAIL {kpath}: delete patch of {ops.get('kind')} matches nothing")
            docs = [d for d in docs if not any(d is g for g in gone)]
            continue
        if not isinstance(ops, list):
            raise SystemExit(f"  FAIL {kpath}: only JSON6902 patches are supported by the fallback renderer")
        hits = [d for d in docs if all(d.get(f) == target[f] for f in ("kind",) if f in target)
                and ("name" not in target or d["metadata"].get("name") == target["name"])]
        if not hits:
            raise SystemExit(f"  FAIL {kpath}: patch target {target} matches nothing")
        for d in hits:
            apply_json6902(d, ops)
    for img in k.get("images", []):
        for d in docs:
            spec = d.get("spec", {}).get("template", {}).get("spec", {})
            for c in spec.get("containers", []) + spec.get("initContainers", []):
                name = re.split(r"[:@]", c.get("image", ""))[0]
                if name == img["name"]:
                    c["image"] = img.get("newName", name) + (":" + str(img["newTag"]) if "newTag" in img else "")
    if k.get("namespace"):
        for d in docs:
            d["metadata"]["namespace"] = k["namespace"]
    return docs


# ---------------------------------------------------------------- helpers

LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|\[::1\]|localhost):\d+$")
DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")


def port_of(addr):
    return int(addr.rsplit(":", 1)[1])


def duration_seconds(d):
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", d))


def by_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def effective(container, pod_sc, key):
    sc = container.get("securityContext", {})
    return sc.get(key, pod_sc.get(key))


def probe_port(probe, ports_by_name):
    port = probe.get("httpGet", {}).get("port")
    return ports_by_name.get(port, port)


# SPEC.md, "Configuration": every key; unknown keys are errors for the proxy too.
SERVER_KEYS = {"listen", "admin_listen", "public_url", "health_listen", "admin_token", "shutdown_grace",
               "connect_timeout", "request_timeout", "retry_buffer", "log_format"}
PROVIDER_KEYS = {"kind", "client_id", "client_secret", "client_secret_file", "scopes", "app_scopes",
                 "authorize_params", "authorize_url", "token_url", "refresh_url", "validate_url",
                 "revoke_url", "ca_file", "client_auth"}
STORE_KEYS = {"kind", "path", "url", "url_file", "key_prefix", "lock_ttl", "encryption_key_file"}
ROUTE_KEYS = {"prefix", "upstream", "provider", "token", "user", "headers", "request_timeout", "ca_file"}
KINDS = {"twitch", "blaze", "glimesh", "firework", "streamersonglist", "oauth2"}

# Prometheus Operator CRDs (monitoring.coreos.com/v1): the fields used or commonly set.
SM_SPEC_KEYS = {"selector", "endpoints", "namespaceSelector", "jobLabel", "targetLabels", "podTargetLabels",
                "sampleLimit", "targetLimit", "labelLimit", "attachMetadata", "scrapeProtocols"}
PM_SPEC_KEYS = {"selector", "podMetricsEndpoints", "namespaceSelector", "jobLabel", "podTargetLabels",
                "sampleLimit", "targetLimit", "labelLimit", "attachMetadata", "scrapeProtocols"}
ENDPOINT_KEYS = {"port", "targetPort", "path", "scheme", "interval", "scrapeTimeout", "honorLabels",
                 "honorTimestamps", "relabelings", "metricRelabelings", "params", "tlsConfig",
                 "bearerTokenSecret", "authorization", "basicAuth", "oauth2", "followRedirects",
                 "enableHttp2", "filterRunning", "proxyUrl", "trackTimestampsStaleness", "portNumber"}


# ---------------------------------------------------------------- checks

def check_proxy_toml(cfg):
    """proxy.toml as SPEC.md describes it, and as this deployment needs it."""
    for section, keys in (("server", SERVER_KEYS), ("store", STORE_KEYS)):
        for k in set(cfg.get(section, {})) - keys:
            fail(f"proxy.toml: unknown key {section}.{k}")
    for k in set(cfg) - {"server", "store", "providers", "routes"}:
        fail(f"proxy.toml: unknown top-level key {k}")
    server = cfg.get("server", {})
    for key in ("listen", "admin_listen"):
        if not LOOPBACK.match(server.get(key, "")):
            fail(f"proxy.toml: server.{key} must be a loopback address, is {server.get(key)!r}")
    if server.get("admin_listen") and server.get("public_url") != f"http://localhost:{port_of(server['admin_listen'])}":
        fail("proxy.toml: server.public_url must be http://localhost:<admin port> (what kubectl port-forward gives the browser)")
    if not re.match(r"^0\.0\.0\.0:\d+$", server.get("health_listen", "")):
        fail("proxy.toml: server.health_listen must listen on the pod IP (0.0.0.0:PORT) for probes and Prometheus")
    shared = cfg.get("store", {}).get("kind", "file") == "redis"
    if not shared and not str(cfg.get("store", {}).get("path", "")).startswith("/"):
        fail("proxy.toml: store.path must be an absolute path on the store volume")
    if shared and "path" in cfg.get("store", {}):
        fail("proxy.toml: store.path is only read with kind = \"file\"")
    providers = cfg.get("providers", {})
    for name, p in providers.items():
        for k in set(p) - PROVIDER_KEYS:
            fail(f"proxy.toml: unknown key providers.{name}.{k}")
        if p.get("kind", name) not in KINDS:
            fail(f"proxy.toml: providers.{name}: unknown kind {p.get('kind', name)!r}")
        if "client_secret" in p:
            fail(f"proxy.toml: providers.{name}.client_secret in a ConfigMap: use client_secret_file and a Secret")
        if "client_secret_file" not in p:
            fail(f"proxy.toml: providers.{name} has no client_secret_file")
    routes = cfg.get("routes", [])
    for i, r in enumerate(routes):
        for k in set(r) - ROUTE_KEYS:
            fail(f"proxy.toml: unknown key routes[{i}].{k}")
        if r.get("provider") not in providers:
            fail(f"proxy.toml: routes[{i}] names an unknown provider {r.get('provider')!r}")
        if r.get("token") not in ("app", "user"):
            fail(f"proxy.toml: routes[{i}].token must be app or user")
        if not str(r.get("prefix", "")).startswith("/"):
            fail(f"proxy.toml: routes[{i}].prefix must start with /")
    for token in ("app", "user"):
        if not any(r.get("token") == token for r in routes):
            fail(f"proxy.toml: the example should have a {token} route")
    for key in ("shutdown_grace", "connect_timeout", "request_timeout"):
        if key in server and not re.match(r"^\d+(ms|s|m|h)$", server[key]):
            fail(f"proxy.toml: server.{key} is not a duration such as \"30s\"")
    ok(f"proxy.toml: {len(providers)} provider(s), {len(routes)} route(s), keys as in SPEC.md")


def check_store_volume(cfg, mounts, volumes, docs):
    store_dir = str(pathlib.PurePosixPath(cfg["store"]["path"]).parent)
    smount = [mt for mt in mounts if mt["mountPath"].rstrip("/") == store_dir]
    if not smount or smount[0].get("readOnly"):
        fail(f"store.path's directory {store_dir} is not a writable volume mount of the sidecar")
        return
    vol = volumes.get(smount[0]["name"], {})
    if "persistentVolumeClaim" in vol:
        claim = vol["persistentVolumeClaim"]["claimName"]
        if not any(d["metadata"]["name"] == claim for d in by_kind(docs, "PersistentVolumeClaim")):
            fail(f"store: PersistentVolumeClaim {claim} is not among the manifests")
        else:
            ok(f"store {cfg['store']['path']} on PersistentVolumeClaim {claim}")
    elif "emptyDir" in vol:
        ok(f"store {cfg['store']['path']} on an emptyDir (user tokens do not survive the pod)")
    else:
        fail("store: the volume must be a PersistentVolumeClaim or an emptyDir")


def check_security(name, c, pod_sc):
    sc = c.get("securityContext", {})
    if effective(c, pod_sc, "runAsNonRoot") is not True:
        fail(f"{name}: runAsNonRoot must be true")
    if effective(c, pod_sc, "runAsUser") == 0:
        fail(f"{name}: runs as uid 0")
    if sc.get("allowPrivilegeEscalation") is not False:
        fail(f"{name}: allowPrivilegeEscalation must be false")
    if sc.get("readOnlyRootFilesystem") is not True:
        fail(f"{name}: readOnlyRootFilesystem must be true")
    if sc.get("privileged"):
        fail(f"{name}: privileged")
    caps = sc.get("capabilities", {})
    if "ALL" not in caps.get("drop", []) or caps.get("add"):
        fail(f"{name}: capabilities must drop ALL and add none")
    if (effective(c, pod_sc, "seccompProfile") or {}).get("type") != "RuntimeDefault":
        fail(f"{name}: seccompProfile must be RuntimeDefault")
    res = c.get("resources", {})
    for kind in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if r not in res.get(kind, {}):
                fail(f"{name}: no resources.{kind}.{r}")


def check(docs, expect_monitor):
    deployments = by_kind(docs, "Deployment")
    if len(deployments) != 1:
        fail(f"expected one Deployment, found {len(deployments)}")
        return
    dep = deployments[0]
    replicas = dep["spec"].get("replicas", 1)
    pod = dep["spec"]["template"]
    spec = pod["spec"]
    pod_labels = pod["metadata"].get("labels", {})
    if not set(dep["spec"]["selector"].get("matchLabels", {}).items()) <= set(pod_labels.items()):
        fail("Deployment: selector does not match the pod template's labels")
    pod_sc = spec.get("securityContext", {})

    sidecars = [c for c in spec.get("initContainers", []) if c.get("restartPolicy") == "Always"
                and "token-sidecar" in c.get("image", "") + c.get("name", "")]
    if len(sidecars) != 1:
        fail("no native sidecar: an initContainer named/imaged token-sidecar with restartPolicy: Always")
        return
    side = sidecars[0]
    ok(f"native sidecar {side['name']!r} (initContainer, restartPolicy: Always), image {side.get('image')}")
    for c in spec.get("initContainers", []) + spec.get("containers", []):
        check_security(f"container {c['name']}", c, pod_sc)
    if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
        fail("pod: host namespaces must not be used")
    ok("security: non-root, read-only root, no capabilities, no privilege escalation, RuntimeDefault seccomp, requests and limits")

    # The config: from the ConfigMap through a volume at /etc/token-sidecar.
    args = " ".join(side.get("command", []) + side.get("args", []))
    env = {e["name"]: e.get("value") for e in side.get("env", [])}
    m = re.search(r"--config[ =](\S+)", args)
    config_path = m.group(1) if m else env.get("TOKEN_SIDECAR_CONFIG")
    if config_path != "/etc/token-sidecar/proxy.toml":
        fail(f"sidecar: config must be /etc/token-sidecar/proxy.toml (--config or TOKEN_SIDECAR_CONFIG), is {config_path!r}")
        return
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    mounts = side.get("volumeMounts", [])

    def files_of_volume(vol):
        """{relative path: (kind, object name, key)} a configMap/secret/projected volume provides."""
        out = {}
        sources = vol["projected"]["sources"] if "projected" in vol else [vol]
        for s in sources:
            for kind in ("configMap", "secret"):
                if kind in s:
                    src = s[kind]
                    obj = src.get("name") or src.get("secretName")
                    for it in src.get("items", []):
                        out[it["path"]] = (kind, obj, it["key"])
                    if not src.get("items"):
                        out[f"*{kind}:{obj}"] = (kind, obj, None)
        return out

    def provider_of(path):
        """(kind, name, key) of the file at an absolute path in the sidecar, or None."""
        for mnt in mounts:
            mp = mnt["mountPath"].rstrip("/") + "/"
            if path.startswith(mp) and mnt["name"] in volumes:
                rel = path[len(mp):]
                files = files_of_volume(volumes[mnt["name"]])
                if rel in files:
                    return files[rel]
                for k, v in files.items():
                    if k.startswith("*") and "/" not in rel:
                        return (v[0], v[1], rel)
        return None

    src = provider_of(config_path)
    if not src or src[0] != "configMap":
        fail(f"sidecar: {config_path} does not come from a ConfigMap volume")
        return
    cms = [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"] == src[1]]
    if not cms or src[2] not in cms[0].get("data", {}):
        fail(f"ConfigMap {src[1]} with key {src[2]} is not among the manifests")
        return
    ok(f"{config_path} from ConfigMap {src[1]} key {src[2]}")
    try:
        cfg = tomllib.loads(cms[0]["data"][src[2]])
    except tomllib.TOMLDecodeError as e:
        fail(f"proxy.toml does not parse: {e}")
        return
    check_proxy_toml(cfg)
    server = cfg.get("server", {})
    shared = cfg.get("store", {}).get("kind", "file") == "redis"
    if not shared and replicas != 1:
        fail("Deployment: replicas must be 1 with the file store (one proxy per store and grant): "
             "enable the replicas component for more")
    if shared and replicas < 2:
        fail(f"Deployment: the replicas component runs several replicas, found {replicas}")
    ok(f"Deployment: {replicas} replica(s) with the {'Redis' if shared else 'file'} store")

    # Client secrets: from a Secret, through client_secret_file.
    for name, p in cfg.get("providers", {}).items():
        f = p.get("client_secret_file")
        if not f:
            continue
        s = provider_of(f)
        if not s or s[0] != "secret":
            fail(f"providers.{name}.client_secret_file {f} is not provided by a Secret volume")
        else:
            ok(f"providers.{name}.client_secret_file {f} from Secret {s[1]} key {s[2]}")
    if by_kind(docs, "Secret"):
        fail("a Secret is among the manifests: secret values must not be committed (create it by hand)")

    # The store: Redis (the replicas component), or a writable volume at store.path's
    # directory, a PVC or an emptyDir.
    if shared:
        helpers = argparse.Namespace(fail=fail, ok=ok, by_kind=by_kind, check_security=check_security,
                                     secret_of=provider_of)
        shared_store.check(docs, cfg, pod_labels, helpers)
        if by_kind(docs, "PersistentVolumeClaim"):
            fail("a PersistentVolumeClaim for the file store is left over with the Redis store")
    else:
        check_store_volume(cfg, mounts, volumes, docs)

    # health_listen: the port, the probes, the annotations.
    health_port = port_of(server["health_listen"])
    ports_by_name = {p["name"]: p["containerPort"] for p in side.get("ports", []) if "name" in p}
    named = [n for n, p in ports_by_name.items() if p == health_port]
    if not named:
        fail(f"sidecar: no named containerPort {health_port} (health_listen)")
    for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        pr = side.get(probe)
        if not pr:
            fail(f"sidecar: no {probe}")
            continue
        if pr.get("httpGet", {}).get("path") != path or probe_port(pr, ports_by_name) != health_port:
            fail(f"sidecar: {probe} must GET {path} on health_listen's port {health_port}")
    ok(f"probes: startup and liveness /healthz, readiness /readyz, on port {health_port} ({', '.join(named)})")

    ann = pod["metadata"].get("annotations", {})
    want_scrape = "false" if expect_monitor else "true"
    if ann.get("prometheus.io/scrape") != want_scrape:
        fail(f"pod annotation prometheus.io/scrape must be {want_scrape!r} here")
    if ann.get("prometheus.io/port") != str(health_port) or ann.get("prometheus.io/path") != "/metrics":
        fail(f"pod annotations prometheus.io/port and /path must be {health_port!r} and /metrics")
    ok(f"prometheus.io annotations: scrape={ann.get('prometheus.io/scrape')}, port={ann.get('prometheus.io/port')}, path={ann.get('prometheus.io/path')}")

    # The app reaches the proxy on the pod's loopback, through a route prefix.
    listen = server["listen"]
    urls = {f"http://{listen}{r['prefix']}" for r in cfg.get("routes", [])}
    apps = [c for c in spec.get("containers", []) if any(e.get("value") in urls for e in c.get("env", []))]
    if not apps:
        fail(f"no app container has an env var pointing at the sidecar ({', '.join(sorted(urls))})")
    else:
        ok(f"app container(s) {', '.join(c['name'] for c in apps)} point at " +
           ", ".join(sorted({e['value'] for c in apps for e in c.get('env', []) if e.get('value') in urls})))

    # The Service for the health port.
    services = [s for s in by_kind(docs, "Service")
                if set(s["spec"].get("selector", {}).items()) <= set(pod_labels.items()) and s["spec"].get("selector")]
    svc_port = None
    for s in services:
        for p in s["spec"].get("ports", []):
            target = p.get("targetPort", p.get("port"))
            if ports_by_name.get(target, target) == health_port and p.get("name") in ("health", "metrics"):
                svc_port = (s, p)
    if not svc_port:
        fail(f"no Service selecting the pod with a port named health or metrics targeting {health_port}")
    else:
        ok(f"Service {svc_port[0]['metadata']['name']} port {svc_port[1]['name']} -> {health_port}")

    # The Prometheus Operator's CRDs.
    sms, pms = by_kind(docs, "ServiceMonitor"), by_kind(docs, "PodMonitor")
    if expect_monitor == "ServiceMonitor" and not sms or expect_monitor == "PodMonitor" and not pms:
        fail(f"expected a {expect_monitor}")
    if not expect_monitor and (sms or pms):
        fail("the base must not need the Prometheus Operator's CRDs")
    if sms and pms:
        fail("both a ServiceMonitor and a PodMonitor: every series would be scraped twice")
    for sm in sms:
        check_monitor(sm, "endpoints", SM_SPEC_KEYS,
                      labels=svc_port[0]["metadata"].get("labels", {}) if svc_port else {},
                      port_names={p.get("name") for p in (svc_port[0]["spec"]["ports"] if svc_port else [])})
    for pm in pms:
        check_monitor(pm, "podMetricsEndpoints", PM_SPEC_KEYS, labels=pod_labels, port_names=set(named))


def check_monitor(doc, endpoints_key, spec_keys, labels, port_names):
    kind, name = doc["kind"], doc.get("metadata", {}).get("name")
    where = f"{kind} {name}"
    if doc.get("apiVersion") != "monitoring.coreos.com/v1":
        fail(f"{where}: apiVersion must be monitoring.coreos.com/v1")
    if not name or not re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", name):
        fail(f"{where}: metadata.name must be a DNS-1123 label")
    spec = doc.get("spec", {})
    for k in set(spec) - spec_keys:
        fail(f"{where}: unknown field spec.{k}")
    match = spec.get("selector", {}).get("matchLabels", {})
    if not match:
        fail(f"{where}: spec.selector.matchLabels is empty (would select everything in the namespace)")
    elif not set(match.items()) <= set(labels.items()):
        fail(f"{where}: spec.selector.matchLabels {match} does not select the intended object (labels {labels})")
    eps = spec.get(endpoints_key, [])
    if not eps:
        fail(f"{where}: no spec.{endpoints_key}")
    for i, ep in enumerate(eps):
        for k in set(ep) - ENDPOINT_KEYS:
            fail(f"{where}: unknown field spec.{endpoints_key}[{i}].{k}")
        if ep.get("port") not in port_names:
            fail(f"{where}: spec.{endpoints_key}[{i}].port {ep.get('port')!r} is not one of {sorted(port_names)}")
        if ep.get("path", "/metrics") != "/metrics":
            fail(f"{where}: path must be /metrics")
        for k in ("interval", "scrapeTimeout"):
            if k in ep and not DURATION.match(str(ep[k])):
                fail(f"{where}: {k} {ep[k]!r} is not a Prometheus duration")
        if "interval" in ep and "scrapeTimeout" in ep and duration_seconds(ep["scrapeTimeout"]) > duration_seconds(ep["interval"]):
            fail(f"{where}: scrapeTimeout longer than interval")
    ok(f"{where}: structure, selector and port {', '.join(str(e.get('port')) for e in eps)} (checked here: no schema for this CRD)")


def check_dockerfile(dockerfile, rendered, repo):
    """The image and the manifests agree: binary name, config path, user, store volume."""
    text = pathlib.Path(dockerfile).read_text()
    final = re.split(r"(?im)^FROM\s", text)[-1]  # the last stage: the image that ships
    cargo = tomllib.loads((repo / "Cargo.toml").read_text())
    bins = [b["name"] for b in cargo.get("bin", [])] or [cargo["package"]["name"]]
    entry = re.search(r"(?m)^ENTRYPOINT\s+(\[.*\])", final)
    cmd = re.search(r"(?m)^CMD\s+(\[.*\])", final)
    user = re.search(r"(?m)^USER\s+(\S+)", final)
    volume = re.search(r"(?m)^VOLUME\s+(\[.*\])", final)
    if not entry or pathlib.PurePosixPath(json.loads(entry.group(1))[0]).name not in bins:
        fail(f"{dockerfile}: the final stage's ENTRYPOINT must run the binary {bins}")
    if f"target/release/{bins[0]}" not in text or "cargo build --release --locked" not in text:
        fail(f"{dockerfile}: must build with `cargo build --release --locked` and ship target/release/{bins[0]}")
    if not cmd or json.loads(cmd.group(1)) != ["run", "--config", "/etc/token-sidecar/proxy.toml"]:
        fail(f"{dockerfile}: CMD must be [\"run\", \"--config\", \"/etc/token-sidecar/proxy.toml\"]")
    uid = user.group(1).split(":")[0] if user else None
    if not uid or not uid.isdigit() or uid == "0":
        fail(f"{dockerfile}: the final stage needs a numeric non-root USER (runAsNonRoot can only check a number)")
    docs = load_yaml_docs(pathlib.Path(rendered))
    for dep in by_kind(docs, "Deployment"):
        pod_uid = dep["spec"]["template"]["spec"].get("securityContext", {}).get("runAsUser")
        if pod_uid is not None and str(pod_uid) != uid:
            fail(f"{dockerfile}: USER {uid} differs from the pod's runAsUser {pod_uid}")
    if not volume or "/var/lib/token-sidecar" not in json.loads(volume.group(1)):
        fail(f"{dockerfile}: VOLUME /var/lib/token-sidecar (the store) missing")
    ignore = pathlib.Path(str(dockerfile) + ".dockerignore")
    if ignore.is_file():
        patterns = [l.strip() for l in ignore.read_text().splitlines() if l.strip() and not l.startswith("#")]
        for needed in ("src", "Cargo.toml", "Cargo.lock"):
            if needed in patterns:
                fail(f"{ignore}: excludes {needed}, which the build needs")
        if "target" not in patterns:
            fail(f"{ignore}: should exclude target/ (gigabytes of build output)")
    ok(f"{dockerfile}: ships {bins[0]}, runs `run --config /etc/token-sidecar/proxy.toml` as uid {uid}, store volume /var/lib/token-sidecar")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("render")
    r.add_argument("dir")
    c = sub.add_parser("check")
    c.add_argument("rendered")
    c.add_argument("--core-out", required=True)
    c.add_argument("--expect-monitor", choices=["ServiceMonitor", "PodMonitor"])
    d = sub.add_parser("dockerfile")
    d.add_argument("dockerfile")
    d.add_argument("--rendered", required=True)
    d.add_argument("--repo", required=True)
    args = ap.parse_args()
    if args.cmd == "dockerfile":
        check_dockerfile(args.dockerfile, args.rendered, pathlib.Path(args.repo))
        sys.exit(1 if errors else 0)
    if args.cmd == "render":
        sys.stdout.write(yaml.safe_dump_all(render(args.dir), sort_keys=False))
        return
    docs = load_yaml_docs(pathlib.Path(args.rendered))
    check(copy.deepcopy(docs), args.expect_monitor)
    core = [d for d in docs if not d["apiVersion"].startswith("monitoring.coreos.com/")]
    pathlib.Path(args.core_out).write_text(yaml.safe_dump_all(core, sort_keys=False))
    print(f"  {len(core)} core document(s) written to {args.core_out} for kubernetes-validate")
    if errors:
        print(f"  {len(errors)} problem(s)")
        sys.exit(1)


if __name__ == "__main__":
    main()
