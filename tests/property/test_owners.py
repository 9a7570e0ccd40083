"""Owner rules on resources and rule lists made by hypothesis: the bulk (polars) path, one
resource at a time, ``explain`` and the plain Python model of tests/unit/test_owners.py agree.

tests/unit/test_owners.py checks the same on five seeded worlds; here the worlds are drawn,
with messy tag keys, unicode, whitespace, empty values, and regexes, and shrunk when they fail.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.config import Match, Rule
from bot.owners import Override
from bot.records import ResourceFacts
from tests.property import examples
from tests.unit.test_owners import HIT, TEAMS, mapper, one, reference

WORDS = ["web", "api", "db", "prod", "dev", "Web", "wéb", "", " web", "web ", "ß", "ss", "İ"]
words = st.one_of(st.sampled_from(WORDS), st.text(max_size=6))
KEYS = ["app", "App ", " APP", "env", "team", " Team", "TEAM", "owner", "Owner", "OWNER ",
        "owner-email", "cc", "ß", "SS", "İd"]
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=4))
PEOPLE = ["alice@example.com", " Bob@Example.com ", "dave@example.com", "x@y.io", "alice",
          "bob@", "a b@x.io", "Zoë@Example.com", " Ops Team "]
people = st.sampled_from(PEOPLE)
# regexes read the same by Python's re and the Rust engine (others are refused at load time)
REGEXES = ["web", "^web", "prod$", r"(api|db)-\d", r"[a-z]+-[0-9]+", "(?i)WEB", r"\w+é",
           "^$", ".", r"^i-0+[1-9a]"]

resources = st.builds(
    ResourceFacts,
    resource_id=st.one_of(words, st.sampled_from(["i-01", "i-0a", "vol-1", "db-2"])),
    provider=st.sampled_from(["aws", "gcp", "AWS", ""]),
    account_id=st.sampled_from(["1", "2", ""]),
    region=st.sampled_from(["eu", "us", ""]),
    service=st.sampled_from(["ec2", "s3"]),
    resource_type=st.sampled_from(["vm", "disk"]),
    name=st.one_of(words, st.lists(st.sampled_from(WORDS), max_size=3).map("-".join)),
    tags=st.dictionaries(keys, st.one_of(words, people, st.sampled_from(["", " "]),
                                         st.sampled_from(sorted(TEAMS)),
                                         st.sampled_from([" Platform ", "WEB", "marketing"])),
                         max_size=4),
)
conditions = st.fixed_dictionaries({}, optional={
    "tag": st.dictionaries(keys, words, max_size=2),
    "tag_exists": st.lists(keys, max_size=2),
    "tag_prefix": st.dictionaries(keys, words, max_size=1),
    "name_prefix": words, "name_contains": words, "name_regex": st.sampled_from(REGEXES),
    "id_prefix": words, "id_contains": words, "id_regex": st.sampled_from(REGEXES),
    "provider": st.sampled_from(["aws", "gcp"]), "account": st.sampled_from(["1", "2"]),
    "region": st.sampled_from(["eu", "us"]), "service": st.sampled_from(["ec2", "s3"]),
    "resource_type": st.sampled_from(["vm", "disk"]),
})
targets = st.one_of(
    st.fixed_dictionaries({"owner": people}),
    st.fixed_dictionaries({"team": st.sampled_from(sorted(TEAMS))}),
    st.fixed_dictionaries({"owner": people, "team": st.sampled_from(sorted(TEAMS))}),
)


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[ResourceFacts], list[Rule], dict[str, Override]]:
    items = draw(st.lists(resources, min_size=1, max_size=12))
    specs = draw(st.lists(st.tuples(conditions, targets), max_size=6))
    rules = [Rule(name=f"r{i}", match=Match(**match), **target)
             for i, (match, target) in enumerate(specs)]
    chosen = draw(st.lists(st.sampled_from([r.resource_id for r in items]), unique=True,
                           max_size=3))
    overrides: dict[str, Override] = {
        rid: draw(st.sampled_from([("Zed@Example.com", None), (None, "web"), ("z@z.io", "data"),
                                   (" Ops Team ", None)]))
        for rid in chosen}
    return items, rules, overrides


def _world(*, tags: dict[str, str], match: dict[str, Any], target: dict[str, str]) -> Any:
    return ([ResourceFacts(resource_id="i-1", name="web-1", tags=tags)],
            [Rule(name="r0", match=Match(**match), **target)], {})


@settings(max_examples=examples(150))
@given(world=worlds())
@example(world=_world(tags={"ß": "x"}, match={"tag_exists": ["SS"]}, target={"owner": HIT}))
@example(world=([ResourceFacts(resource_id="a"), ResourceFacts(resource_id="b")],
                [Rule(name="all", team="web")], {}))  # a lone catch-all rule: one winner each
@example(world=_world(tags={"Owner": " Bob@Example.com ", "owner": "alice"}, match={},
                      target={"team": "web"}))
def test_bulk_one_by_one_explain_and_the_model_agree(
    world: tuple[list[ResourceFacts], list[Rule], dict[str, Override]]
) -> None:
    items, rules, overrides = world
    m = mapper(*rules)
    bulk = m.assign(items, overrides=overrides)
    assert bulk == [one(m, r, overrides.get(r.resource_id)) for r in items]
    assert bulk == [m.explain(r, override=overrides.get(r.resource_id)).assignment
                    for r in items]
    assert bulk == reference(items, rules, overrides)


@pytest.mark.parametrize("owner", ["", "  ", "\t"])
def test_a_rule_with_a_blank_owner_is_refused_when_loaded(owner: str) -> None:
    with pytest.raises(ValidationError, match="owner is blank"):
        Rule(name="r", owner=owner, team="web")
