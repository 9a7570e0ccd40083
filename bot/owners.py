"""Owner mapping: the owner and team of each resource, and why.

Precedence, highest first, for the **owner**:

1. a manual override ``(owner, team)`` for the resource id (``source="manual"``);
2. an owner tag holding an email: ``owner_tags`` in config order, the first whose value is an
   email (``source="tag:<owner tag>"``); a value that is not an email ("alice", "team-x") is
   ignored and the next owner tag is tried;
3. the first rule whose conditions all hold, if it names an owner (``source="rule:<name>"``);
   a rule that names only a team still wins: later rules are not consulted;
4. the default owner of the resolved team (``source="team-default"``);
5. nobody (``owner=None``, ``source="unowned"``); such resources are listed, never dropped.

and for the **team**:

1. the override's team; 2. a team tag (``team_tags`` in order) whose value names a configured
team; 3. the team of the first matching rule; 4. the first team (config order) that lists the
owner among its ``members``. A manual owner change alone therefore does not move the resource's
cost to another team; an override names a team for that. ``source`` always says where the
*owner* came from.

Comparisons: tag keys, in resources and in config, are matched with surrounding whitespace
stripped and case-insensitively (``" Owner"`` is ``owner``); when that folds two keys of one
resource together the first in the resource's tag order counts. Tag values, names, ids and the
provider/account/region/service/resource type are compared exactly (case-sensitive). Emails are
stripped and lower-cased wherever they come from (tags, rules, teams, overrides); an owner
given by a rule or an override that is not an email is kept as written, stripped. A team tag
value is stripped and may differ from the team name in case.

Matching runs vectorised in polars: one boolean expression per rule over a frame with one column
per field and per tag key any rule mentions, and the first match per row via ``coalesce``. The
same code serves the bulk path and ``explain``. Regular expressions search anywhere in the value,
as ``re.search`` does, in Rust regex syntax: a pattern must compile in both Python's ``re`` and
polars, and syntax the two engines read differently (nested sets, ``[[:alpha:]]``, ``&&``) is
refused when the rules are compiled. One difference remains: Rust's ``$`` does not match before a
final newline, which names and ids do not contain.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from operator import attrgetter

import polars as pl

from bot.config import Config, Match, Rule, Team
from bot.errors import ConfigError
from bot.records import Assignment, ResourceFacts

Override = tuple[str | None, str | None]  # (owner, team); None leaves that part to the rules

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# Match field -> ResourceFacts attribute, for the plain equality conditions.
_EQUALS = {"provider": "provider", "account": "account_id", "region": "region",
           "service": "service", "resource_type": "resource_type"}
_WINNER = pl.Int32


def _key(tag_key: str) -> str:
    return tag_key.strip().casefold()


def _email(value: str) -> str:
    """The value as a normalised email, or "" when it is not one."""
    value = value.strip()
    return value.lower() if _EMAIL.fullmatch(value) else ""


def _person(value: str) -> str:
    """An owner as stored: emails stripped and lower-cased, anything else only stripped."""
    return _email(value) or value.strip()


def _normalise_tags(tags: Mapping[str, str], cache: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in tags.items():
        norm = cache.get(key)
        if norm is None:
            norm = cache[key] = _key(key)
        out.setdefault(norm, value)
    return out


def _regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be used for matching, or None."""
    re.purge()  # a cached pattern would not warn again, hiding the ambiguity check below
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            re.compile(pattern)
        except re.error as exc:
            return f"is not a valid regular expression ({exc})"
    if caught:
        return f"reads differently in Python and Rust regex syntax ({caught[0].message})"
    try:
        pl.Series([""], dtype=pl.String).str.contains(pattern)
    except pl.exceptions.PolarsError as exc:
        return f"is not supported by the Rust regex engine ({str(exc).strip().splitlines()[-1]})"
    return None


@dataclass(frozen=True, slots=True)
class _Condition:
    text: str  # shown by explain(), e.g. "tag 'team' = 'data'"
    column: str  # the frame column it reads
    expr: pl.Expr  # boolean, never null


def _conditions(match: Match) -> list[_Condition]:
    found: list[tuple[str, str, pl.Expr]] = []
    for key, value in match.tag.items():
        col = f"t:{_key(key)}"
        found.append((f"tag {_key(key)!r} = {value!r}", col, pl.col(col) == value))
    for key in match.tag_exists:
        col = f"t:{_key(key)}"
        found.append((f"tag {_key(key)!r} exists", col, pl.col(col).is_not_null()))
    for key, prefix in match.tag_prefix.items():
        col = f"t:{_key(key)}"
        expr = pl.col(col).str.starts_with(prefix)
        found.append((f"tag {_key(key)!r} starts with {prefix!r}", col, expr))
    for label, col in (("name", "f:name"), ("id", "f:resource_id")):
        if (prefix := getattr(match, f"{label}_prefix")) is not None:
            expr = pl.col(col).str.starts_with(prefix)
            found.append((f"{label} starts with {prefix!r}", col, expr))
        if (part := getattr(match, f"{label}_contains")) is not None:
            expr = pl.col(col).str.contains(part, literal=True)
            found.append((f"{label} contains {part!r}", col, expr))
        if (pattern := getattr(match, f"{label}_regex")) is not None:
            if (problem := _regex_problem(pattern)) is not None:
                raise ConfigError(f"{label}_regex {pattern!r} {problem}")
            expr = pl.col(col).str.contains(pattern)
            found.append((f"{label} matches /{pattern}/", col, expr))
    for field, attr in _EQUALS.items():
        if (value := getattr(match, field)) is not None:
            found.append((f"{field} = {value!r}", f"f:{attr}", pl.col(f"f:{attr}") == value))
    return [_Condition(text, col, expr.fill_null(False)) for text, col, expr in found]


@dataclass(frozen=True, slots=True)
class ConditionCheck:
    """One condition of a rule checked against a resource."""

    condition: str
    actual: str | None  # the resource's value it looked at; None when absent
    passed: bool


@dataclass(frozen=True, slots=True)
class RuleCheck:
    """A rule checked against a resource; it matched when every condition passed."""

    rule: str
    matched: bool
    conditions: tuple[ConditionCheck, ...]


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a resource got its assignment: the rules tried up to the winner, and ignored tags."""

    resource_id: str
    assignment: Assignment
    rule: str | None  # the first rule that matched; None when no rule did
    checks: tuple[RuleCheck, ...]  # rules in order, up to and including the winner
    notes: tuple[str, ...]  # owner/team tags that were present but could not be used


@dataclass(frozen=True, slots=True)
class _Scan:
    frame: pl.DataFrame
    tag_owner: list[tuple[str, str] | None]  # (owner tag, email)
    tag_team: list[str | None]


class OwnerMapper:
    """Owner rules validated and compiled once; assigns owners and teams to many resources."""

    def __init__(self, *, rules: Sequence[Rule], teams: Mapping[str, Team],
                 owner_tags: Sequence[str], team_tags: Sequence[str]) -> None:
        self._rules = list(rules)
        self._conditions: list[list[_Condition]] = []
        seen: set[str] = set()
        for index, rule in enumerate(self._rules):
            where = f"rules.{index} ({rule.name})"
            if rule.name in seen:
                raise ConfigError(f"{where}: the rule name is used twice")
            if rule.team is not None and rule.team not in teams:
                raise ConfigError(f"{where}: unknown team {rule.team!r}")
            seen.add(rule.name)
            try:
                self._conditions.append(_conditions(rule.match))
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from exc
        self._targets = [(None if r.owner is None else _person(r.owner), r.team,
                          f"rule:{r.name}") for r in self._rules]
        self._team_names: dict[str, str] = {}
        self._member_team: dict[str, str] = {}
        for name, team in teams.items():
            self._team_names.setdefault(name.strip().casefold(), name)
            for member in team.members:
                self._member_team.setdefault(_person(member), name)
        self._team_names.update({name: name for name in teams})
        self._defaults = {name: _person(t.default_owner) for name, t in teams.items()
                          if t.default_owner}
        self._owner_tags = [(_key(t), t.strip()) for t in owner_tags]
        self._team_tags = [_key(t) for t in team_tags]
        used = {c.column for conds in self._conditions for c in conds}
        self._tag_columns = sorted(c for c in used if c.startswith("t:"))
        # resource_id always: a frame without columns would have no rows
        self._fields = [f for f in ("resource_id", "name", *_EQUALS.values())
                        if f == "resource_id" or f"f:{f}" in used]
        self._first_match = self._first_match_expr()

    @classmethod
    def from_config(cls, config: Config) -> OwnerMapper:
        """Compile the config's rules; raises ConfigError for a rule that cannot be used."""
        return cls(rules=config.rules, teams=config.teams, owner_tags=config.owner_tags,
                   team_tags=config.team_tags)

    def _first_match_expr(self) -> pl.Expr | None:
        branches = []
        for index, conds in enumerate(self._conditions):
            if not conds:  # a catch-all: no later rule can ever win
                branches.append(pl.lit(index, dtype=_WINNER))
                break
            rule = reduce(lambda a, b: a & b, (c.expr for c in conds))
            branches.append(pl.when(rule).then(pl.lit(index, dtype=_WINNER)))
        return pl.coalesce(branches).alias("winner") if branches else None

    def assign(self, resources: Sequence[ResourceFacts], *,
               overrides: Mapping[str, Override] | None = None) -> list[Assignment]:
        """One assignment per resource, in the order given."""
        return self._run(resources, overrides or {})[0]

    def explain(self, resource: ResourceFacts, *, override: Override | None = None) -> Explanation:
        """The assignment of one resource, which rule matched and which conditions held."""
        overrides = {} if override is None else {resource.resource_id: override}
        assignments, winners, scan = self._run([resource], overrides)
        winner = winners[0]
        last = len(self._rules) - 1 if winner is None else winner
        tried = self._conditions[: last + 1]
        flat = [c for conds in tried for c in conds]
        passed = scan.frame.select(
            [c.expr.alias(str(i)) for i, c in enumerate(flat)]).row(0) if flat else ()
        row = scan.frame.row(0, named=True)
        checks, start = [], 0
        for rule, conds in zip(self._rules, tried, strict=False):
            done = tuple(ConditionCheck(c.text, row.get(c.column), bool(ok))
                         for c, ok in zip(conds, passed[start:start + len(conds)], strict=True))
            start += len(conds)
            checks.append(RuleCheck(rule.name, all(c.passed for c in done), done))
        return Explanation(resource.resource_id, assignments[0],
                           None if winner is None else self._rules[winner].name,
                           tuple(checks), self._notes(resource))

    def _notes(self, resource: ResourceFacts) -> tuple[str, ...]:
        tags = _normalise_tags(resource.tags, {})
        notes = [f"owner tag {key!r} = {tags[key]!r} is not an email; ignored"
                 for key, _ in self._owner_tags
                 if key in tags and not _email(tags[key])]
        notes += [f"team tag {key!r} = {tags[key]!r} names no configured team; ignored"
                  for key in self._team_tags
                  if key in tags and self._team_of_tag(tags[key]) is None]
        return tuple(notes)

    def _team_of_tag(self, value: str) -> str | None:
        value = value.strip()
        return self._team_names.get(value) or self._team_names.get(value.casefold())

    def _run(self, resources: Sequence[ResourceFacts], overrides: Mapping[str, Override],
             ) -> tuple[list[Assignment], list[int | None], _Scan]:
        scan = self._scan(resources)
        if self._first_match is None or not resources:
            winners: list[int | None] = [None] * len(resources)
        else:
            # with_columns, not select: a lone catch-all rule is a literal, one value for all
            winners = scan.frame.with_columns(self._first_match).get_column("winner").to_list()
        # Assignments are frozen and resources repeat the same inputs a lot: build each once.
        memo: dict[tuple[object, ...], Assignment] = {}
        assignments = []
        for res, winner, owner, team in zip(resources, winners, scan.tag_owner, scan.tag_team,
                                            strict=True):
            override = overrides.get(res.resource_id)
            found = memo.get(key := (winner, owner, team, override))
            if found is None:
                found = memo[key] = self._resolve(winner, owner, team, override)
            assignments.append(found)
        return assignments, winners, scan

    def _scan(self, resources: Sequence[ResourceFacts]) -> _Scan:
        """The frame the rules run on, plus what owner and team tags say, in one pass."""
        cache: dict[str, str] = {}
        columns: dict[str, list[str | None]] = {c: [] for c in self._tag_columns}
        wanted = [(columns[c], c[2:]) for c in self._tag_columns]
        owners: list[tuple[str, str] | None] = []
        teams: list[str | None] = []
        # tag values repeat across resources: check each distinct one once
        emails: dict[str, str] = {}
        team_names: dict[str, str] = {}
        for res in resources:
            tags = _normalise_tags(res.tags, cache)
            for column, key in wanted:
                column.append(tags.get(key))
            owners.append(self._owner_of_tags(tags, emails))
            teams.append(self._team_of_tags(tags, team_names))
        data = [pl.Series(f"f:{f}", list(map(attrgetter(f), resources)), dtype=pl.String)
                for f in self._fields]
        data += [pl.Series(c, values, dtype=pl.String) for c, values in columns.items()]
        return _Scan(pl.DataFrame(data), owners, teams)

    def _owner_of_tags(self, tags: dict[str, str], memo: dict[str, str],
                       ) -> tuple[str, str] | None:
        for key, label in self._owner_tags:
            if (value := tags.get(key)) is not None:
                email = memo.get(value)
                if email is None:
                    email = memo[value] = _email(value)
                if email:
                    return label, email
        return None

    def _team_of_tags(self, tags: dict[str, str], memo: dict[str, str]) -> str | None:
        for key in self._team_tags:
            if (value := tags.get(key)) is not None:
                team = memo.get(value)
                if team is None:
                    team = memo[value] = self._team_of_tag(value) or ""
                if team:
                    return team
        return None

    def _resolve(self, winner: int | None, tag_owner: tuple[str, str] | None,
                 tag_team: str | None, override: Override | None) -> Assignment:
        manual_owner, manual_team = override if override is not None else (None, None)
        rule_owner, rule_team, rule_source = (
            self._targets[winner] if winner is not None else (None, None, ""))
        team = manual_team or tag_team or rule_team
        owner: str | None
        if manual_owner:
            owner, source = _person(manual_owner), "manual"
        elif tag_owner is not None:
            owner, source = tag_owner[1], f"tag:{tag_owner[0]}"
        elif rule_owner is not None:
            owner, source = rule_owner, rule_source
        else:
            owner = self._defaults.get(team) if team is not None else None
            return Assignment(owner, team, "team-default" if owner else "unowned")
        if team is None:
            team = self._member_team.get(owner)
        return Assignment(owner, team, source)


def assign(resources: Sequence[ResourceFacts], *, rules: Sequence[Rule],
           teams: Mapping[str, Team], owner_tags: Sequence[str], team_tags: Sequence[str],
           overrides: Mapping[str, Override] | None = None) -> list[Assignment]:
    """Compile the rules and assign in one call; prefer ``OwnerMapper`` to reuse the rules."""
    mapper = OwnerMapper(rules=rules, teams=teams, owner_tags=owner_tags, team_tags=team_tags)
    return mapper.assign(resources, overrides=overrides)
