"""Owner mapping: conditions, precedence, normalisation, explain() and bulk vs one-by-one."""

from __future__ import annotations

import random
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from bot.config import Match, Rule, Team, parse_config
from bot.errors import ConfigError
from bot.owners import Override, OwnerMapper, assign
from bot.records import Assignment, ResourceFacts

TEAMS = {
    "platform": Team(default_owner=" Alice@Example.com", members=["alice@example.com",
                                                                  "Dave@Example.com"]),
    "data": Team(members=["bob@example.com"]),  # no default owner
    "web": Team(default_owner="carol@example.com"),
}
OWNER_TAGS = ["owner", "owner-email"]
TEAM_TAGS = ["team"]
HIT = "hit@example.com"


def mapper(*rules: Rule, teams: Mapping[str, Team] = TEAMS) -> OwnerMapper:
    return OwnerMapper(rules=rules, teams=teams, owner_tags=OWNER_TAGS, team_tags=TEAM_TAGS)


def res(**kw: Any) -> ResourceFacts:
    base: dict[str, Any] = dict(resource_id="i-0abc123", provider="aws", account_id="111",
                                region="eu-west-1", service="AmazonEC2", resource_type="Instance",
                                name="web-prod-api-1")
    return ResourceFacts(**{**base, **kw})


def one(m: OwnerMapper, r: ResourceFacts, override: Override | None = None) -> Assignment:
    return m.assign([r], overrides={r.resource_id: override} if override else None)[0]


CONDITIONS = [  # (match, resource fields, should match)
    ({"tag": {"app": "web"}}, {"tags": {"app": "web"}}, True),
    ({"tag": {"app": "web"}}, {"tags": {"app": "Web"}}, False),  # values are case-sensitive
    ({"tag": {"app": "web"}}, {"tags": {"app": "web "}}, False),
    ({"tag": {"app": "web"}}, {"tags": {}}, False),
    ({"tag": {"App ": "web"}}, {"tags": {" APP": "web"}}, True),  # keys are not
    ({"tag_exists": ["env"]}, {"tags": {"env": ""}}, True),
    ({"tag_exists": ["env"]}, {"tags": {"envx": "prod"}}, False),
    ({"tag_prefix": {"cost-center": "cc-1"}}, {"tags": {"cost-center": "cc-100"}}, True),
    ({"tag_prefix": {"cost-center": "cc-1"}}, {"tags": {"cost-center": "cc-200"}}, False),
    ({"tag_prefix": {"cost-center": "cc-1"}}, {"tags": {}}, False),
    ({"name_prefix": "web-"}, {}, True),
    ({"name_prefix": "prod"}, {}, False),
    ({"name_contains": "prod"}, {}, True),
    ({"name_contains": "staging"}, {}, False),
    ({"name_contains": "."}, {}, False),  # literal, not a regex
    ({"name_regex": r"prod-(api|web)"}, {}, True),  # searches, not anchored
    ({"name_regex": r"^prod"}, {}, False),
    ({"name_regex": r"(?i)PROD-API-\d$"}, {}, True),
    ({"id_prefix": "i-0"}, {}, True),
    ({"id_prefix": "vol-"}, {}, False),
    ({"id_contains": "abc"}, {}, True),
    ({"id_contains": "xyz"}, {}, False),
    ({"id_regex": r"[0-9a-f]{6}$"}, {}, True),
    ({"id_regex": r"^vol-"}, {}, False),
    ({"provider": "aws"}, {}, True),
    ({"provider": "AWS"}, {}, False),
    ({"account": "111"}, {}, True),
    ({"account": "222"}, {}, False),
    ({"region": "eu-west-1"}, {}, True),
    ({"region": "us-east-1"}, {}, False),
    ({"service": "AmazonEC2"}, {}, True),
    ({"service": "AmazonS3"}, {}, False),
    ({"resource_type": "Instance"}, {}, True),
    ({"resource_type": "Volume"}, {}, False),
    ({}, {}, True),  # an empty match matches everything
]


@pytest.mark.parametrize(("match", "fields", "hit"), CONDITIONS)
def test_each_condition(match: dict[str, Any], fields: dict[str, Any], hit: bool) -> None:
    m = mapper(Rule(name="r", match=Match(**match), owner=HIT))
    expected = Assignment(HIT, None, "rule:r") if hit else Assignment(None, None, "unowned")
    assert one(m, res(**fields)) == expected


@pytest.mark.parametrize(("region", "app", "hit"), [
    ("eu-west-1", "web", True), ("us-east-1", "web", False), ("eu-west-1", "db", False)])
def test_conditions_of_a_rule_are_anded(region: str, app: str, hit: bool) -> None:
    m = mapper(Rule(name="r", match=Match(region="eu-west-1", tag={"app": "web"}), owner=HIT))
    assert (one(m, res(region=region, tags={"app": app})).source == "rule:r") is hit


def test_first_matching_rule_wins_in_config_order() -> None:
    m = mapper(Rule(name="narrow", match=Match(name_prefix="web-prod"), owner="a@x.io"),
               Rule(name="broad", match=Match(name_prefix="web"), owner="b@x.io"))
    assert one(m, res()) == Assignment("a@x.io", None, "rule:narrow")
    assert one(m, res(name="web-dev")) == Assignment("b@x.io", None, "rule:broad")


def test_a_rule_with_only_a_team_wins_and_leaves_the_owner_to_the_team_default() -> None:
    m = mapper(Rule(name="team-only", match=Match(provider="aws"), team="platform"),
               Rule(name="later", match=Match(), owner="late@example.com", team="web"))
    assert one(m, res()) == Assignment("alice@example.com", "platform", "team-default")


def test_team_without_default_owner_is_unowned_but_keeps_the_team() -> None:
    m = mapper(Rule(name="data", match=Match(), team="data"))
    assert one(m, res()) == Assignment(None, "data", "unowned")


def test_unowned_resources_are_listed_not_dropped() -> None:
    items = [res(resource_id=f"r{i}") for i in range(3)]
    assert mapper().assign(items) == [Assignment(None, None, "unowned")] * 3


def test_owner_tag_email_beats_rules_and_is_normalised() -> None:
    m = mapper(Rule(name="r", match=Match(), owner=HIT, team="web"))
    got = one(m, res(tags={"owner": "  Bob@Example.COM "}))
    assert got == Assignment("bob@example.com", "web", "tag:owner")


@pytest.mark.parametrize("value", ["alice", "team-x", "bob@", "@example.com", "a b@x.io", ""])
def test_owner_tag_that_is_not_an_email_is_ignored(value: str) -> None:
    m = mapper(Rule(name="r", match=Match(), owner=HIT))
    assert one(m, res(tags={"owner": value})) == Assignment(HIT, None, "rule:r")


def test_owner_tags_are_tried_in_config_order_past_non_emails() -> None:
    tags = {"owner-email": "second@example.com", "owner": "alice"}
    assert one(mapper(), res(tags=tags)) == Assignment("second@example.com", None,
                                                       "tag:owner-email")
    tags = {"owner-email": "second@example.com", "owner": "first@example.com"}
    assert one(mapper(), res(tags=tags)).owner == "first@example.com"


@pytest.mark.parametrize("key", ["Owner", " owner", "OWNER ", "\towner"])
def test_messy_owner_tag_keys_are_recognised(key: str) -> None:
    assert one(mapper(), res(tags={key: "bob@example.com"})) == Assignment(
        "bob@example.com", "data", "tag:owner")


def test_when_keys_fold_together_the_first_in_the_resource_counts() -> None:
    tags = {" Owner": "first@example.com", "owner": "second@example.com"}
    assert one(mapper(), res(tags=tags)).owner == "first@example.com"


def test_team_tag_beats_rule_team_and_must_name_a_configured_team() -> None:
    m = mapper(Rule(name="r", match=Match(), team="web"))
    assert one(m, res(tags={" Team": " Platform "})) == Assignment(
        "alice@example.com", "platform", "team-default")
    assert one(m, res(tags={"team": "marketing"})) == Assignment(
        "carol@example.com", "web", "team-default")


def test_team_from_owner_membership_when_nothing_else_names_one() -> None:
    assert one(mapper(), res(tags={"owner": "dave@example.com"})) == Assignment(
        "dave@example.com", "platform", "tag:owner")
    assert one(mapper(), res(tags={"owner": "eve@example.com"})) == Assignment(
        "eve@example.com", None, "tag:owner")
    m = mapper(Rule(name="r", match=Match(), owner="BOB@example.com"))
    assert one(m, res()) == Assignment("bob@example.com", "data", "rule:r")


def test_rule_team_beats_owner_membership() -> None:
    m = mapper(Rule(name="r", match=Match(), team="web"))
    assert one(m, res(tags={"owner": "bob@example.com"})) == Assignment(
        "bob@example.com", "web", "tag:owner")


def test_manual_override_sticks_over_tags_and_rules() -> None:
    m = mapper(Rule(name="r", match=Match(), owner=HIT, team="web"))
    tagged = res(tags={"owner": "bob@example.com", "team": "data"})
    assert one(m, tagged, ("Zoe@Example.com", "platform")) == Assignment(
        "zoe@example.com", "platform", "manual")
    # owner only: the team still comes from the tags and rules
    assert one(m, tagged, ("zoe@example.com", None)) == Assignment(
        "zoe@example.com", "data", "manual")
    # team only: the owner still comes from the tags, or the new team's default
    assert one(m, tagged, (None, "platform")) == Assignment(
        "bob@example.com", "platform", "tag:owner")
    assert one(m, res(), (None, "platform")) == Assignment(HIT, "platform", "rule:r")
    assert one(mapper(), res(), (None, "platform")) == Assignment(
        "alice@example.com", "platform", "team-default")


def test_overrides_apply_only_to_their_resource() -> None:
    items = [res(resource_id="a"), res(resource_id="b")]
    got = mapper().assign(items, overrides={"b": ("bob@example.com", None)})
    assert got == [Assignment(None, None, "unowned"), Assignment("bob@example.com", "data",
                                                                 "manual")]


def test_explain_names_the_winner_and_the_conditions_that_failed_before_it() -> None:
    m = mapper(Rule(name="eu-web", match=Match(region="us-east-1", tag={"app": "web"}),
                    owner=HIT),
               Rule(name="apps", match=Match(tag_exists=["app"]), team="platform"),
               Rule(name="never-reached", match=Match(), owner="x@example.com"))
    got = m.explain(res(tags={"App": "web", "owner": "alice", "team": "nope"}))
    assert got.rule == "apps"
    assert got.assignment == Assignment("alice@example.com", "platform", "team-default")
    assert [(c.rule, c.matched) for c in got.checks] == [("eu-web", False), ("apps", True)]
    assert [(c.condition, c.actual, c.passed) for c in got.checks[0].conditions] == [
        ("tag 'app' = 'web'", "web", True), ("region = 'us-east-1'", "eu-west-1", False)]
    assert got.notes == ("owner tag 'owner' = 'alice' is not an email; ignored",
                         "team tag 'team' = 'nope' names no configured team; ignored")


def test_explain_says_when_no_rule_matched() -> None:
    m = mapper(Rule(name="s3", match=Match(service="AmazonS3"), owner=HIT))
    got = m.explain(res(), override=("bob@example.com", None))
    assert got.rule is None
    assert [(c.rule, c.matched) for c in got.checks] == [("s3", False)]
    assert got.assignment == Assignment("bob@example.com", "data", "manual")
    assert got.notes == ()


def test_explain_without_rules() -> None:
    got = mapper().explain(res())
    assert (got.rule, got.checks, got.assignment.source) == (None, (), "unowned")


@pytest.mark.parametrize(("pattern", "problem"), [
    ("(?=web)", "Rust regex engine"),  # look-around: Python only
    (r"(a)\1", "Rust regex engine"),  # back-references: Python only
    (r"web\Z", "Rust regex engine"),
    ("[[:alpha:]]", "reads differently"),  # a POSIX class in Rust, a nested set in Python
    ("[a-z&&b]", "reads differently"),
])
def test_regexes_the_engines_disagree_on_are_refused(pattern: str, problem: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # Python's own hint about such sets
        rule = Rule(name="bad", match=Match(name_regex=pattern), owner=HIT)
    with pytest.raises(ConfigError, match=rf"rules\.0 \(bad\): name_regex .*{problem}"):
        mapper(rule)


def test_rules_are_checked_when_compiled() -> None:
    with pytest.raises(ConfigError, match="unknown team 'ops'"):
        mapper(Rule(name="r", team="ops"))
    with pytest.raises(ConfigError, match=r"rules\.1 \(r\): the rule name is used twice"):
        mapper(Rule(name="r", team="web"), Rule(name="r", team="data"))


def test_from_config_and_the_function_form_agree() -> None:
    config = parse_config("""
owner_tags: [Owner]
team_tags: [squad]
teams: {web: {default_owner: carol@example.com}}
rules:
  - {name: ec2, match: {service: AmazonEC2, tag: {Env: prod}}, owner: Ops@Example.com}
  - {name: rest, team: web}
""", source="test.yaml")
    items = [res(tags={"env": "prod"}), res(tags={"env": "dev", "squad": "web"}),
             res(tags={"owner": "x@example.com"})]
    got = OwnerMapper.from_config(config).assign(items)
    assert got == [Assignment("ops@example.com", None, "rule:ec2"),
                   Assignment("carol@example.com", "web", "team-default"),
                   Assignment("x@example.com", "web", "tag:Owner")]
    assert assign(items, rules=config.rules, teams=config.teams,
                  owner_tags=config.owner_tags, team_tags=config.team_tags) == got
    assert OwnerMapper.from_config(config).assign([]) == []


# --- bulk vs one-by-one vs a plain Python model of the documented semantics -----------------

def reference(items: Sequence[ResourceFacts], rules: Sequence[Rule],
              overrides: Mapping[str, Override]) -> list[Assignment]:
    def norm(tags: Mapping[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for k, v in tags.items():
            out.setdefault(k.strip().casefold(), v)
        return out

    def holds(m: Match, r: ResourceFacts, t: dict[str, str]) -> bool:
        tag = {k.strip().casefold(): v for k, v in m.tag.items()}
        prefix = {k.strip().casefold(): v for k, v in m.tag_prefix.items()}
        checks = [all(t.get(k) == v for k, v in tag.items()),
                  all(k.strip().casefold() in t for k in m.tag_exists),
                  all(k in t and t[k].startswith(v) for k, v in prefix.items())]
        for value, text in ((r.name, "name"), (r.resource_id, "id")):
            if (p := getattr(m, f"{text}_prefix")) is not None:
                checks.append(value.startswith(p))
            if (p := getattr(m, f"{text}_contains")) is not None:
                checks.append(p in value)
            if (p := getattr(m, f"{text}_regex")) is not None:
                checks.append(re.search(p, value) is not None)
        for field, attr in (("provider", "provider"), ("account", "account_id"),
                            ("region", "region"), ("service", "service"),
                            ("resource_type", "resource_type")):
            if getattr(m, field) is not None:
                checks.append(getattr(m, field) == getattr(r, attr))
        return all(checks)

    def team_of(value: str) -> str | None:  # stripped; the exact name, else any case
        value = value.strip()
        if value in TEAMS:
            return value
        return next((n for n in TEAMS if n.casefold() == value.casefold()), None)

    email = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

    def person(value: str) -> str:  # emails stripped and lower-cased, anything else stripped
        value = value.strip()
        return value.lower() if email.fullmatch(value) else value

    out = []
    for r in items:
        t = norm(r.tags)
        win = next((rule for rule in rules if holds(rule.match, r, t)), None)
        o_owner, o_team = overrides.get(r.resource_id, (None, None))
        tag_team = next((team_of(t[k]) for k in TEAM_TAGS if team_of(t.get(k, ""))), None)
        team = o_team or tag_team or (win.team if win else None)
        tag_owner = next((k for k in OWNER_TAGS if email.fullmatch(t.get(k, "").strip())), None)
        if o_owner:
            owner, source = person(o_owner), "manual"
        elif tag_owner:
            owner, source = t[tag_owner].strip().lower(), f"tag:{tag_owner}"
        elif win is not None and win.owner:
            owner, source = person(win.owner), f"rule:{win.name}"
        else:
            default = TEAMS[team].default_owner if team else None
            fallback = default.strip().lower() if default else None
            out.append(Assignment(fallback, team, "team-default" if fallback else "unowned"))
            continue
        member = next((n for n, tm in TEAMS.items()
                       if owner in [x.lower() for x in tm.members]), None)
        out.append(Assignment(owner, team or member, source))
    return out


def random_world(seed: int) -> tuple[list[ResourceFacts], list[Rule], dict[str, Override]]:
    rng = random.Random(seed)
    words = ["web", "api", "db", "etl", "prod", "dev"]
    people = ["alice@example.com", "Bob@Example.com", "dave@example.com", "x@y.io", "alice"]
    items = []
    for i in range(500):
        tags = {rng.choice(["app", "App ", "env", "team", " Team", "cc", "owner", "OWNER"]):
                rng.choice([*words, *TEAMS, *people, "cc-12", "cc-21"]) for _ in range(3)}
        items.append(res(resource_id=f"{rng.choice(['i-', 'vol-'])}{i:05x}{rng.choice(words)}",
                         provider=rng.choice(["aws", "gcp"]), account_id=rng.choice("123"),
                         region=rng.choice(["eu", "us"]), service=rng.choice(["ec2", "s3"]),
                         resource_type=rng.choice(["vm", "disk"]),
                         name="-".join(rng.sample(words, 3)), tags=tags))
    conditions: list[Callable[[], dict[str, Any]]] = [
        lambda: {"tag": {rng.choice(["app", "ENV", "team"]): rng.choice(words + list(TEAMS))}},
        lambda: {"tag_exists": [rng.choice(["cc", "owner", "env"])]},
        lambda: {"tag_prefix": {"cc": rng.choice(["cc-1", "cc-2"])}},
        lambda: {"name_prefix": rng.choice(words)}, lambda: {"name_contains": rng.choice(words)},
        lambda: {"name_regex": rf"{rng.choice(words)}-(api|db)$"},
        lambda: {"id_prefix": rng.choice(["i-", "vol-"])},
        lambda: {"id_contains": rng.choice(words)}, lambda: {"id_regex": r"^i-0+[1-9a]"},
        lambda: {"provider": rng.choice(["aws", "gcp"])}, lambda: {"account": rng.choice("123")},
        lambda: {"region": "eu"}, lambda: {"service": "s3"}, lambda: {"resource_type": "vm"},
    ]
    rules = []
    for i in range(50):
        match: dict[str, Any] = {}
        for _ in range(rng.choice([1, 1, 2, 3])):
            match.update(rng.choice(conditions)())
        target = rng.choice([{"owner": rng.choice(people[:4])}, {"team": rng.choice(list(TEAMS))},
                             {"owner": rng.choice(people[:4]), "team": rng.choice(list(TEAMS))}])
        rules.append(Rule(name=f"r{i}", match=Match(**match), **target))
    overrides: dict[str, Override] = {
        r.resource_id: rng.choice([("Zed@Example.com", None), (None, "web"), ("z@z.io", "data")])
        for r in rng.sample(items, 25)}
    return items, rules, overrides


def test_bulk_equals_one_by_one() -> None:
    items, rules, overrides = random_world(1)
    m = mapper(*rules)
    bulk = m.assign(items, overrides=overrides)
    assert bulk == [one(m, r, overrides.get(r.resource_id)) for r in items]
    assert bulk[:20] == [m.explain(r, override=overrides.get(r.resource_id)).assignment
                         for r in items[:20]]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_bulk_equals_a_plain_python_model_of_the_semantics(seed: int) -> None:
    items, rules, overrides = random_world(seed)
    bulk = mapper(*rules).assign(items, overrides=overrides)
    assert bulk == reference(items, rules, overrides)
    assert len({a.source for a in bulk}) > 10  # the world exercises many rules and sources
