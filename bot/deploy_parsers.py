"""GitHub, GitLab and Jenkins webhook payloads -> one :class:`DeployReport` (pure).

Each parser returns a report, an :class:`Ignored` (an event that is not a deploy, or names no
environment) or raises ``InputError`` for a payload that claims to be a deploy but lacks what
one needs (answered 400). Statuses are normalised to::

    pending  queued  running  success  failure  error  canceled  inactive

GitHub: ``deployment`` (pending), ``deployment_status`` (its ``state``) and, for the workflows
``deploys.github_workflows`` names, ``workflow_run``. GitLab: the *Deployment Hook*. Jenkins: the
Notification plugin's STARTED / COMPLETED / FINALIZED phases of a build whose environment is the
``deploys.jenkins_env_parameter`` parameter or the ``env`` group of ``deploys.jenkins_job_pattern``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.config_sections import DeploysConfig
from bot.errors import InputError

FINAL = frozenset({"success", "failure", "error", "canceled"})
FAILED = frozenset({"failure", "error"})
_GITHUB_STATES = {"pending": "pending", "queued": "queued", "in_progress": "running",
                  "success": "success", "failure": "failure", "error": "error",
                  "inactive": "inactive"}
_WORKFLOW_CONCLUSIONS = {"success": "success", "failure": "failure", "timed_out": "failure",
                         "startup_failure": "failure", "cancelled": "canceled",
                         "skipped": "canceled", "stale": "canceled", "neutral": "canceled",
                         "action_required": "pending"}
_GITLAB_STATUSES = {"created": "pending", "blocked": "pending", "running": "running",
                    "success": "success", "failed": "failure", "canceled": "canceled",
                    "skipped": "canceled"}
_JENKINS_RESULTS = {"SUCCESS": "success", "FAILURE": "failure", "UNSTABLE": "failure",
                    "ABORTED": "canceled", "NOT_BUILT": "canceled"}
_SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True, slots=True)
class DeployReport:
    """What one webhook says about one deploy, in the bot's words."""

    source: str  # github | gitlab | jenkins
    external_id: str  # the same for every event of one deploy
    env: str  # the environment as the source names it
    status: str
    deployer: str
    deployer_email: str | None = None
    sha: str | None = None
    ref: str | None = None
    version: str | None = None
    repo: str | None = None
    title: str | None = None
    url: str | None = None
    commit_url: str | None = None
    environment_url: str | None = None
    started_at: datetime | None = None  # when the deploy began, if the source says

    @property
    def final(self) -> bool:
        return self.status in FINAL


@dataclass(frozen=True, slots=True)
class Ignored:
    """An event that is not a deploy we track; answered 2xx ``ignored``."""

    reason: str


Parsed = DeployReport | Ignored


def next_status(current: str, new: str) -> str:
    """The status after ``new`` arrives: a finished deploy never goes back to pending or
    running (deliveries can arrive out of order), though a later final status wins."""
    if current in FINAL and new not in FINAL:
        return current
    return new


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return str(value) if isinstance(value, str | int) and str(value).strip() else None


_KINDS = {str: "a string", int: "a whole number"}  # what _need is asked for, in words


def _need(payload: Mapping[str, Any], key: str, kind: type, what: str) -> Any:
    value = payload.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) or value == "":
        raise InputError(f"{what}: `{key}` is missing or not {_KINDS[kind]}")
    return value


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 (GitHub), ``2021-04-28 21:50:00 +0200`` (GitLab) or epoch milliseconds
    (Jenkins), as an aware UTC datetime; None when absent or unreadable."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        try:
            return datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):  # past year 9999, or infinite
            return None
    if not isinstance(value, str) or not value:
        return None
    for parse in (lambda v: datetime.fromisoformat(v.replace("Z", "+00:00")),
                  lambda v: datetime.strptime(v, "%Y-%m-%d %H:%M:%S %z")):
        try:
            moment = parse(value)
            return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
        except ValueError:
            continue
        except OverflowError:  # 9999-12-31 in a zone west of UTC
            return None
    return None


def _email(config: DeploysConfig, login: str, given: Any = None) -> str | None:
    if isinstance(given, str) and "@" in given:
        return given.strip()
    mapped = config.users.get(login)
    if mapped:
        return mapped
    return login if "@" in login else None


# --- GitHub --------------------------------------------------------------------------------


def github(event: str, payload: Mapping[str, Any], config: DeploysConfig) -> Parsed:
    """``X-GitHub-Event`` ``event`` with its JSON body."""
    if event in ("deployment", "deployment_status"):
        return _github_deployment(event, payload, config)
    if event == "workflow_run":
        return _github_workflow(payload, config)
    return Ignored(f"event {event} is not a deploy")


def _repository(payload: Mapping[str, Any]) -> tuple[str | None, str | None]:
    repo = _obj(payload.get("repository"))
    return _text(repo.get("full_name")), _text(repo.get("html_url"))


def _github_deployment(event: str, payload: Mapping[str, Any],
                       config: DeploysConfig) -> DeployReport:
    what = f"GitHub {event}"
    deployment = payload.get("deployment")
    if not isinstance(deployment, dict):
        raise InputError(f"{what}: `deployment` is missing")
    number = _need(deployment, "id", int, what)
    env = _need(deployment, "environment", str, what)
    repo, html = _repository(payload)
    status, url, env_url = "pending", None, None
    if event == "deployment_status":
        state = _obj(payload.get("deployment_status"))
        status = _GITHUB_STATES.get(str(state.get("state")), "")
        if not status:
            raise InputError(f"{what}: unknown `deployment_status.state` {state.get('state')!r}")
        url = _text(state.get("log_url")) or _text(state.get("target_url"))
        env_url = _text(state.get("environment_url"))
    login = (_text(_obj(deployment.get("creator")).get("login"))
             or _text(_obj(payload.get("sender")).get("login")) or "github")
    sha = _text(deployment.get("sha"))
    extra = _obj(deployment.get("payload"))
    return DeployReport(
        source="github", external_id=f"{repo or '?'}/deployments/{number}", env=env,
        status=status, deployer=login, deployer_email=_email(config, login), sha=sha,
        ref=_text(deployment.get("ref")), version=_text(extra.get("version")), repo=repo,
        url=url or (f"{html}/deployments" if html else None),
        commit_url=f"{html}/commit/{sha}" if html and sha else None, environment_url=env_url,
        started_at=parse_time(deployment.get("created_at")))


def _github_workflow(payload: Mapping[str, Any], config: DeploysConfig) -> Parsed:
    what = "GitHub workflow_run"
    run = payload.get("workflow_run")
    if not isinstance(run, dict):
        raise InputError(f"{what}: `workflow_run` is missing")
    name, path = _text(run.get("name")) or "", _text(run.get("path")) or ""
    workflows = config.github_workflows
    env = workflows.get(name) or workflows.get(path) or workflows.get(path.rsplit("/", 1)[-1])
    if not env:
        return Ignored(f"workflow {name or path or '?'} is not a deploy workflow")
    number = _need(run, "id", int, what)
    action = payload.get("action")
    if action == "completed" or run.get("status") == "completed":
        status = _WORKFLOW_CONCLUSIONS.get(str(run.get("conclusion")), "error")
    else:
        status = "queued" if action == "requested" else "running"
    actor = _obj(run.get("triggering_actor")) or _obj(run.get("actor"))
    login = _text(actor.get("login")) or _text(_obj(payload.get("sender")).get("login")) or "github"
    repo, html = _repository(payload)
    sha = _text(run.get("head_sha"))
    return DeployReport(
        source="github", external_id=f"{repo or '?'}/runs/{number}/{run.get('run_attempt') or 1}",
        env=env, status=status, deployer=login, deployer_email=_email(config, login), sha=sha,
        ref=_text(run.get("head_branch")), repo=repo, title=_text(run.get("display_title")),
        url=_text(run.get("html_url")),
        commit_url=f"{html}/commit/{sha}" if html and sha else None,
        started_at=parse_time(run.get("run_started_at") or run.get("created_at")))


# --- GitLab --------------------------------------------------------------------------------


def gitlab(event: str, payload: Mapping[str, Any], config: DeploysConfig) -> Parsed:
    """``X-Gitlab-Event`` ``event`` with its JSON body; only the Deployment Hook is a deploy."""
    if payload.get("object_kind") != "deployment":
        return Ignored(f"event {event or payload.get('object_kind') or '?'} is not a deploy")
    what = "GitLab Deployment Hook"
    number = _need(payload, "deployment_id", int, what)
    env = _need(payload, "environment", str, what)
    raw = _need(payload, "status", str, what)
    status = _GITLAB_STATUSES.get(raw)
    if status is None:
        raise InputError(f"{what}: unknown `status` {raw!r}")
    project = _obj(payload.get("project"))
    repo = _text(project.get("path_with_namespace")) or _text(project.get("id"))
    user = _obj(payload.get("user"))
    login = _text(user.get("username")) or _text(user.get("name")) or "gitlab"
    commit_url = _text(payload.get("commit_url"))
    tail = commit_url.rstrip("/").rsplit("/", 1)[-1] if commit_url else ""
    web = _text(project.get("web_url"))
    return DeployReport(
        source="gitlab", external_id=f"{repo or '?'}/deployments/{number}", env=env,
        status=status, deployer=login, deployer_email=_email(config, login, user.get("email")),
        sha=tail if _SHA.match(tail) else _text(payload.get("short_sha")),
        ref=_text(payload.get("ref")), repo=repo, title=_text(payload.get("commit_title")),
        url=_text(payload.get("deployable_url")) or (f"{web}/-/environments" if web else None),
        commit_url=commit_url, environment_url=_text(payload.get("environment_external_url")),
        started_at=parse_time(payload.get("status_changed_at")))


# --- Jenkins -------------------------------------------------------------------------------


def jenkins_delivery(payload: Mapping[str, Any]) -> str:
    """The dedupe key of a Notification plugin message: job, build number and phase."""
    build = _obj(payload.get("build"))
    return f"{payload.get('name')}#{build.get('number')}#{build.get('phase')}"


def check_jenkins(payload: Mapping[str, Any]) -> None:
    """InputError unless the body has the Notification plugin's shape."""
    what = "Jenkins notification"
    _need(payload, "name", str, what)
    build = payload.get("build")
    if not isinstance(build, dict):
        raise InputError(f"{what}: `build` is missing")
    _need(build, "number", int, what)
    _need(build, "phase", str, what)


def _jenkins_env(name: str, parameters: Mapping[str, Any], config: DeploysConfig) -> str | None:
    given = _text(parameters.get(config.jenkins_env_parameter))
    if given:
        return given
    if config.jenkins_job_pattern:
        found = re.search(config.jenkins_job_pattern, name)
        if found and found.group("env"):
            return found.group("env")
    return None


def _culprit(scm: Mapping[str, Any]) -> str | None:
    culprits = scm.get("culprits")
    for culprit in culprits if isinstance(culprits, list) else ():
        name = _text(culprit) or _text(_obj(culprit).get("fullName"))
        if name:
            return name
    return None


def jenkins(payload: Mapping[str, Any], config: DeploysConfig) -> Parsed:
    """A Notification plugin message (check it with :func:`check_jenkins` first)."""
    check_jenkins(payload)
    name, build = str(payload["name"]), dict(payload["build"])
    phase = str(build["phase"]).upper()
    if phase not in ("STARTED", "COMPLETED", "FINALIZED"):
        return Ignored(f"phase {phase}")
    raw = build.get("parameters")
    parameters: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    env = _jenkins_env(name, parameters, config)
    if env is None:
        return Ignored(f"job {name} names no environment")
    status = "running"
    if phase != "STARTED" and build.get("status"):
        status = _JENKINS_RESULTS.get(str(build["status"]).upper(), "error")
    scm = _obj(build.get("scm"))
    login = (_text(parameters.get(config.jenkins_user_parameter)) or _culprit(scm) or "jenkins")
    branch = _text(scm.get("branch"))
    if branch:
        branch = re.sub(r"^(origin/|refs/heads/)", "", branch)
    return DeployReport(
        source="jenkins", external_id=f"{name}#{build['number']}", env=env, status=status,
        deployer=login, deployer_email=_email(config, login), sha=_text(scm.get("commit")),
        ref=branch, version=_text(parameters.get(config.jenkins_version_parameter)), repo=name,
        url=_text(build.get("full_url")), started_at=parse_time(build.get("timestamp")))
