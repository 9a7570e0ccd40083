"""DURATION text: it parses or raises CommandError, and what it parses means what it says."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from bot.durations import parse_span, parse_until
from bot.errors import CommandError
from tests.property import examples

NOW = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1),
         "w": timedelta(weeks=1)}

# Text near the grammar: numbers, units, ISO pieces, unicode digits and look-alikes.
near = st.lists(
    st.sampled_from(["1", "0", "30", "9999", "12345", "m", "h", "d", "w", "M", "D", "-", ":",
                     "T", "Z", "+", " ", "2026", "12", "01", "9999-12-31", "0001-01-01",
                     "T23:59", "+05:30", "-01:00", "W01", "٣", "１", "²", ".", "\n", "\x00"]),
    max_size=8).map("".join)
texts = st.one_of(st.text(max_size=40), near)
nows = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                    timezones=st.just(UTC))


@settings(max_examples=examples(300))
@given(text=texts)
@example(text="٣d")  # Arabic-Indic digit: not in the grammar
@example(text="１w")  # fullwidth digit
@example(text="5d\n")
def test_a_span_parses_or_is_a_command_error(text: str) -> None:
    try:
        span = parse_span(text)
    except CommandError:
        return
    assert span > timedelta(0)
    amount, unit = text.strip()[:-1], text.strip()[-1].lower()
    assert amount.isascii() and amount.isdigit()
    assert span == int(amount) * UNITS[unit]


@settings(max_examples=examples(300))
@given(text=texts, now=nows)
@example(text="9999-12-31T23:59:59-01:00", now=NOW)  # later than datetime.max in UTC
@example(text="٣d", now=NOW)
@example(text="20261201", now=NOW)
def test_until_parses_or_is_a_command_error(text: str, now: datetime) -> None:
    try:
        moment = parse_until(text, now=now)
    except CommandError:
        return
    assert moment.tzinfo is not None and moment.utcoffset() is not None
    assert moment.tzinfo == UTC
    assert moment > now


@settings(max_examples=examples(200))
@given(amount=st.integers(min_value=1, max_value=9999), unit=st.sampled_from("mhdwMHDW"),
       pad=st.sampled_from(["", " ", "\t"]), now=nows)
def test_relative_text_round_trips_to_an_exact_timedelta(amount: int, unit: str, pad: str,
                                                          now: datetime) -> None:
    text = f"{pad}{amount}{unit}{pad}"
    assert parse_span(text) == amount * UNITS[unit.lower()]
    assert parse_until(text, now=now) == now + amount * UNITS[unit.lower()]


@pytest.mark.parametrize("text", ["0m", "0h", "00d", "0w", "-1d", "1.5h", "10000m", "3 d", "d"])
def test_spans_outside_the_grammar_are_refused(text: str) -> None:
    with pytest.raises(CommandError):
        parse_span(text)


@settings(max_examples=examples(100))
@given(day=st.dates(min_value=date(2026, 5, 2), max_value=date(9999, 12, 30)))
def test_a_bare_date_in_any_iso_form_means_the_end_of_that_day(day: date) -> None:
    end = datetime.combine(day, time(23, 59), tzinfo=UTC)
    for text in (day.isoformat(), day.strftime("%Y%m%d"), day.isoformat() + " "):
        assert parse_until(text, now=NOW) == end, text


@settings(max_examples=examples(100))
@given(moment=st.datetimes(min_value=datetime(2026, 5, 2), max_value=datetime(9999, 12, 30)),
       offset=st.integers(min_value=-14 * 60, max_value=14 * 60))
def test_an_iso_moment_is_that_moment_in_utc(moment: datetime, offset: int) -> None:
    aware = moment.replace(microsecond=0, tzinfo=timezone(timedelta(minutes=offset)))
    assume(aware > NOW)
    assert parse_until(aware.isoformat(), now=NOW) == aware.astimezone(UTC)
    naive = moment.replace(microsecond=0)
    assert parse_until(naive.isoformat(), now=NOW) == naive.replace(tzinfo=UTC)
