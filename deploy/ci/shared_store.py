"""Checks of the `replicas` component (several replicas sharing a Redis token store), for
manifests_check.py: the Redis StatefulSet keeps an fsynced append-only file on a volume,
a Service reaches it, a NetworkPolicy lets only the app's pods in, and the sidecars read
the Redis URL (which holds the password) and the store key from a Secret.

The helpers (fail, ok, by_kind, check_security, secret_of) come from manifests_check.py,
so that every problem lands in its one list.
"""


def check(docs, cfg, pod_labels, h):
    store = cfg.get("store", {})
    # The URL holds the Redis password: never in the ConfigMap.
    if "url" in store:
        h.fail("proxy.toml: store.url in a ConfigMap holds the Redis password: use url_file and a Secret")
    for key in ("url_file", "encryption_key_file"):
        path = store.get(key)
        if not path:
            h.fail(f"proxy.toml: store.{key} is not set")
            continue
        src = h.secret_of(path)
        if not src or src[0] != "secret":
            h.fail(f"store.{key} {path} is not provided by a Secret volume")
        else:
            h.ok(f"store.{key} {path} from Secret {src[1]} key {src[2]}")

    sets = [s for s in h.by_kind(docs, "StatefulSet")
            if any("redis" in c.get("image", "") for c in s["spec"]["template"]["spec"].get("containers", []))]
    if len(sets) != 1:
        h.fail(f"expected one Redis StatefulSet, found {len(sets)}")
        return
    sts = sets[0]
    spec = sts["spec"]["template"]["spec"]
    redis = next(c for c in spec["containers"] if "redis" in c.get("image", ""))
    args = [str(a) for a in redis.get("command", []) + redis.get("args", [])]
    flags = {args[i]: args[i + 1] for i in range(len(args) - 1) if args[i].startswith("--")}
    if flags.get("--appendonly") != "yes":
        h.fail("Redis: --appendonly yes is required (a rotated refresh token Redis loses is a grant lost)")
    if flags.get("--appendfsync") not in ("always", "everysec"):
        h.fail("Redis: --appendfsync must be always (or everysec)")
    if "--requirepass" not in flags:
        h.fail("Redis: no --requirepass: any pod the NetworkPolicy lets in could read every token")
    data_dir = flags.get("--dir", "/data")
    claims = {t["metadata"]["name"] for t in sts["spec"].get("volumeClaimTemplates", [])}
    mounts = {m["mountPath"].rstrip("/"): m["name"] for m in redis.get("volumeMounts", [])}
    if mounts.get(data_dir.rstrip("/")) not in claims:
        h.fail(f"Redis: its --dir {data_dir} is not on a volumeClaimTemplate (the append-only file must outlive the pod)")
    h.check_security(f"container {redis['name']} (Redis)", redis, spec.get("securityContext", {}))
    h.ok(f"Redis StatefulSet {sts['metadata']['name']}: appendonly yes, appendfsync {flags.get('--appendfsync')}, "
         f"{data_dir} on a claim, a password, hardened")

    redis_labels = sts["spec"]["template"]["metadata"].get("labels", {})
    port = next((p["containerPort"] for p in redis.get("ports", []) if p.get("name") == "redis"), 6379)
    services = [s for s in h.by_kind(docs, "Service") if s["spec"].get("selector")
                and set(s["spec"]["selector"].items()) <= set(redis_labels.items())]
    if not services:
        h.fail("no Service selects the Redis pod")
    else:
        h.ok(f"Service {services[0]['metadata']['name']} reaches Redis")

    policies = [p for p in h.by_kind(docs, "NetworkPolicy")
                if set(p["spec"].get("podSelector", {}).get("matchLabels", {}).items()) <= set(redis_labels.items())
                and p["spec"].get("podSelector", {}).get("matchLabels")]
    if not policies:
        h.fail("no NetworkPolicy selects the Redis pod")
        return
    pol = policies[0]["spec"]
    if "Ingress" not in pol.get("policyTypes", []):
        h.fail("NetworkPolicy: policyTypes must include Ingress")
    rules = pol.get("ingress", [])
    if not rules:
        h.fail("NetworkPolicy: no ingress rule (nothing could reach Redis)")
    for i, rule in enumerate(rules):
        froms = rule.get("from", [])
        if not froms:
            h.fail(f"NetworkPolicy: ingress[{i}] has no `from`: every pod may connect")
        for f in froms:
            sel = f.get("podSelector", {}).get("matchLabels", {})
            if set(f) != {"podSelector"} or not sel or not set(sel.items()) <= set(pod_labels.items()):
                h.fail(f"NetworkPolicy: ingress[{i}] lets in more than the app's pods ({f})")
        ports = [p.get("port") for p in rule.get("ports", [])]
        if ports not in ([port], ["redis"]):
            h.fail(f"NetworkPolicy: ingress[{i}] must name the Redis port only, names {ports}")
    h.ok(f"NetworkPolicy {policies[0]['metadata']['name']}: only the app's pods reach Redis on {port}")
