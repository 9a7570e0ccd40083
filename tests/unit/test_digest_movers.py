"""Top movers of a digest: the biggest absolute changes per dimension (in cents), ties by
dimension (the most specific first), then by name."""

from __future__ import annotations

from bot.digest import movers


def test_the_biggest_changes_per_dimension_ties_by_name_tiny_ones_dropped() -> None:
    current = {
        "resource": {"a": 10.0, "b": 1.0, "c": 5.0, "d": 5.0, "e": 3.0, "f": 100.004},
        "service": {"EC2": 50.0, "S3": 7.0},
    }
    before = {
        "resource": {"a": 2.0, "b": 9.0, "c": 0.0, "e": 3.0, "f": 100.0, "gone": 6.0},
        "service": {"EC2": 20.0, "RDS": 4.0},
    }
    got = [(m.dimension, m.name, round(m.change.delta, 3)) for m in movers(current, before)]
    # per dimension the top three by |delta| (a +8, b -8: tie by name; c, d, gone tie at 5..6),
    # then all of them ranked together, six at most; e (no change) and f (+0.004) never show
    assert got == [
        ("service", "EC2", 30.0),
        ("resource", "a", 8.0),
        ("resource", "b", -8.0),
        ("service", "S3", 7.0),
        ("resource", "gone", -6.0),
        ("service", "RDS", -4.0),
    ]


def test_nothing_moved_means_no_movers() -> None:
    same = {"service": {"EC2": 5.0}, "resource": {"i-1": 5.0}}
    assert movers(same, same) == []
    assert movers({}, {}) == []


def test_equal_changes_rank_the_same_however_they_were_summed_the_resource_first() -> None:
    # 528.3 - 258.3 is 270.00000000000006 in floats, the resource's change exactly 270.0: the
    # account's sums, added in another order, could as well have come out just under 270
    current = {"account": {"111": 528.3}, "service": {"EC2": 528.3}, "resource": {"fe-old": 0.0}}
    before = {"account": {"111": 258.3}, "service": {"EC2": 258.3}, "resource": {"fe-old": 270.0}}
    below = {"account": {"111": 528.3 - 1e-9}, "service": {"EC2": 528.3 - 1e-9}}
    for now_ in (current, {**current, **below}):
        got = [(m.dimension, m.name, m.same_as) for m in movers(now_, before)]
        # the account costs what EC2 does in both weeks: one line says both
        assert got == [("resource", "fe-old", ()), ("service", "EC2", (("account", "111"),))]


def test_a_service_that_is_one_resource_joins_its_line_and_frees_the_slot() -> None:
    current = {
        "resource": {"events": 571.44, "etl": 541.65, "twin-a": 5.0, "twin-b": 5.0},
        "service": {"BigQuery": 571.44, "GKE": 541.65 + 5.0 + 5.0},
        "account": {"lake": 571.44 + 541.65 + 10.0, "sandbox": 1.0},
    }
    before = {
        "resource": {"events": 227.77, "etl": 522.31, "twin-a": 1.0, "twin-b": 1.0},
        "service": {"BigQuery": 227.77, "GKE": 522.31 + 2.0},
        "account": {"lake": 227.77 + 522.31 + 2.0, "sandbox": 4.0},
    }
    got = [(m.dimension, m.name, m.same_as) for m in movers(current, before)]
    assert got == [
        ("account", "lake", ()),
        ("resource", "events", (("service", "BigQuery"),)),  # the same +343.67
        ("service", "GKE", ()),  # etl and the twins: not any one resource's change
        ("resource", "etl", ()),
        ("resource", "twin-a", ()),  # twin-b: the same +4, but three per dimension
        ("account", "sandbox", ()),  # in the slot BigQuery would have taken
    ]
    wider = [(m.dimension, m.name) for m in movers(current, before, top=4)]
    assert ("resource", "twin-a") in wider and ("resource", "twin-b") in wider  # never joined
