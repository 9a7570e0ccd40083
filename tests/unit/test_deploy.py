"""deploy/kubernetes and the Dockerfile agree with the app: every environment variable they set
is one the app reads (a typo fails here), the config they mount is a valid config, and the
names, ports and probes refer to each other."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bot.config import parse_config
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
KUBE = ROOT / "deploy" / "kubernetes"
SETTINGS = {name.upper() for name in Settings.model_fields}


def _documents() -> dict[str, dict[str, Any]]:
    """Every object in deploy/kubernetes, by "Kind/name"."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(KUBE.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                found[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return found


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def test_the_objects_are_there() -> None:
    assert set(_documents()) == {
        "Deployment/finops-bot", "Service/finops-bot", "Secret/finops-bot",
        "ConfigMap/finops-bot-config", "Job/finops-bot-db-upgrade",
    }


def test_every_environment_variable_is_one_the_app_reads() -> None:
    docs = _documents()
    used: set[str] = set()
    for doc in docs.values():
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        for container in _containers(doc):
            used |= {e["name"] for e in container.get("env", [])}
            for source in container.get("envFrom", []):
                ref = source.get("secretRef") or source.get("configMapRef")
                kind = "Secret" if "secretRef" in source else "ConfigMap"
                target = docs[f"{kind}/{ref['name']}"]
                used |= set(target.get("stringData", {})) | set(target.get("data", {}))
            for entry in container.get("env", []):
                key_ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
                if key_ref:
                    assert key_ref["key"] in docs[f"Secret/{key_ref['name']}"]["stringData"]
    unknown = used - SETTINGS
    assert not unknown, f"not read by the app (bot/settings.py): {sorted(unknown)}"
    assert {"DATABASE_URL", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "FINOPS_CONFIG",
            "LOG_FORMAT"} <= used


def test_the_dockerfile_sets_only_variables_the_app_reads() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    final = text[text.rindex("\nFROM "):]
    names = set(re.findall(r"\b([A-Z][A-Z0-9_]+)=", final))
    assert {"HOST", "PORT"} <= names
    assert names - {"PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PIP_NO_CACHE_DIR",
                    "PIP_DISABLE_PIP_VERSION_CHECK"} <= SETTINGS
    assert 'CMD ["finops-bot", "run"]' in final and "EXPOSE 3000" in final
    assert "/healthz" in final and re.search(r"^USER \d+$", final, re.M)


def test_the_deployment_mounts_a_valid_config_where_finops_config_points() -> None:
    docs = _documents()
    deployment = docs["Deployment/finops-bot"]
    assert deployment["spec"]["replicas"] == 2
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    assert env["FINOPS_CONFIG"] == mount["mountPath"] == "/etc/finops/config.yaml"
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"]
                  if v["name"] == "config")
    config_map = docs[f"ConfigMap/{volume['configMap']['name']}"]
    config = parse_config(config_map["data"][mount["subPath"]], source="configmap.yaml")
    assert config.command == "/finops"
    assert Settings(log_format=env["LOG_FORMAT"], log_level=env["LOG_LEVEL"]).log_format == "json"


def test_probes_ports_and_labels_line_up() -> None:
    docs = _documents()
    deployment, service = docs["Deployment/finops-bot"], docs["Service/finops-bot"]
    template = deployment["spec"]["template"]
    [container] = template["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert ports["http"] == int(env["PORT"]) == 3000
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["resources"]["requests"] and container["resources"]["limits"]
    labels = template["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert template["spec"]["securityContext"]["runAsNonRoot"] is True
