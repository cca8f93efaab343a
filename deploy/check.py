#!/usr/bin/env python3
"""Static checks of deploy/ for machines without a Docker engine, the compose plugin or helm.

What it proves: every YAML file parses; the compose file has the services, health checks, dependencies and
WebSocket-capable nginx config Parley needs; the Helm chart's templates only use helpers that exist and values
that values.yaml defines, and their template tags are balanced. What it cannot prove: that Kubernetes accepts the
rendered manifests (no helm template / kubeconform here) or that the images build (no Docker engine). When a
`helm` binary or `docker compose` is on PATH, CI runs those too (see .ci/run).
"""
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent
errors = []


def check(condition, message):
    if not condition:
        errors.append(message)


# ---- compose
compose = yaml.safe_load((ROOT / "compose" / "compose.yaml").read_text())
services = compose.get("services", {})
for name in ["postgres", "redis", "migrate", "parley1", "parley2", "nginx"]:
    check(name in services, f"compose: service {name} missing")
for name, service in services.items():
    for dependency in (service.get("depends_on") or {}):
        check(dependency in services, f"compose: {name} depends on unknown service {dependency}")
    if name != "migrate":
        check("healthcheck" in service and "test" in service["healthcheck"], f"compose: {name} has no health check")
for name in ["parley1", "parley2"]:
    env = services.get(name, {}).get("environment", {})
    check(env.get("Parley__Database__Provider") == "postgres", f"compose: {name} not on PostgreSQL")
    check("Parley__Redis__ConnectionString" in env, f"compose: {name} without Redis")
    check(services[name].get("depends_on", {}).get("migrate", {}).get("condition") == "service_completed_successfully",
          f"compose: {name} must wait for the migrate job")
check(services.get("migrate", {}).get("command") == ["migrate"], "compose: migrate service must run `migrate`")
# Secrets never fall back to a fixed value (a published default admin password, #15): `${VAR:?message}` only.
compose_text = (ROOT / "compose" / "compose.yaml").read_text()
for secret in ("POSTGRES_PASSWORD", "PARLEY_ADMIN_PASSWORD", "PARLEY_ADMIN_EMAIL"):
    check(f"${{{secret}:-" not in compose_text and f"${{{secret}-" not in compose_text, f"compose: {secret} must not have a default")
    check(f"${{{secret}:?" in compose_text, f"compose: {secret} must be required (${{{secret}:?...}})")
nginx = (ROOT / "compose" / "nginx.conf").read_text()
for needle in ["proxy_set_header Upgrade $http_upgrade", "proxy_set_header Connection $connection_upgrade",
               "server parley1:8080", "server parley2:8080", "proxy_read_timeout"]:
    check(needle in nginx, f"nginx.conf: missing '{needle}'")
check(re.search(r"^\s*(ip_hash|sticky|hash)\b", nginx, re.M) is None, "nginx.conf: Parley needs no sticky sessions")
dockerfile = (ROOT / "Dockerfile").read_text()
check(len(re.findall(r"^FROM ", dockerfile, re.M)) >= 3, "Dockerfile: expected a multi-stage build")
check(re.search(r"^USER (?!root|0\b)", dockerfile, re.M) is not None, "Dockerfile: runtime must not run as root")
check("npm run build" in dockerfile, "Dockerfile: web assets are not built")

# ---- helm
chart = ROOT / "helm" / "parley"
meta = yaml.safe_load((chart / "Chart.yaml").read_text())
check(meta.get("apiVersion") == "v2" and meta.get("name") and meta.get("version"), "Chart.yaml: apiVersion v2, name, version required")
values = yaml.safe_load((chart / "values.yaml").read_text())
templates = {p.name: p.read_text() for p in (chart / "templates").iterdir()}
helpers = set(re.findall(r'define "([^"]+)"', "".join(templates.values())))
kinds = set()
for name, text in templates.items():
    check(text.count("{{") == text.count("}}"), f"{name}: unbalanced template tags")
    opens = len(re.findall(r"{{-?\s*(if|range|with|define)\b", text))
    ends = len(re.findall(r"{{-?\s*end\s*-?}}", text))
    check(opens == ends, f"{name}: {opens} blocks opened, {ends} closed")
    for helper in re.findall(r'include "([^"]+)"', text):
        check(helper in helpers, f"{name}: include of undefined helper {helper}")
    for path in re.findall(r"\.Values((?:\.[A-Za-z0-9_]+)+)", text):
        node = values
        for part in path.strip(".").split("."):
            if not isinstance(node, dict) or part not in node:
                errors.append(f"{name}: .Values{path} is not defined in values.yaml")
                break
            node = node[part]
    kinds.update(re.findall(r"^kind: (\w+)", text, re.M))
    if name.endswith(".yaml"):
        # Without the template lines, what is left must still be YAML (catches indentation slips).
        plain = "\n".join(line for line in text.splitlines() if "{{" not in line)
        try:
            list(yaml.safe_load_all(plain))
        except yaml.YAMLError as ex:
            errors.append(f"{name}: not YAML once template lines are removed: {ex}")
for kind in ["Deployment", "Service", "Ingress", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Secret", "Job"]:
    check(kind in kinds, f"helm: no {kind} template")
deployment = templates.get("deployment.yaml", "")
for probe in ["readinessProbe", "livenessProbe", "/health/ready", "/health/live", "runAsNonRoot: true"]:
    check(probe in deployment, f"deployment.yaml: missing {probe}")
check("proxy-read-timeout" in yaml.safe_dump(values["ingress"]["annotations"]), "values: ingress needs WebSocket timeouts")

if errors:
    print("deploy/ static check FAILED:")
    for error in errors:
        print("  - " + error)
    sys.exit(1)
print(f"deploy/ static check passed: compose ({len(services)} services), nginx, Dockerfile, Helm chart ({len(templates)} templates)")
