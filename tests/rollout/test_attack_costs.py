"""Prices and budgets against values a hostile review tried: every value is a clear
ConfigError or accepted, never an OverflowError (an integer too large for a float), and a
bool is no price."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webresearch.errors import ConfigError
from webresearch.rollout.costs import check_budget
from webresearch.web.costs import Prices

VALUES = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                   st.integers(-10**500, 10**500), st.booleans(), st.text(max_size=3),
                   st.none(), st.just(10**400), st.just(-(10**400)))


def _dollars(value: object) -> bool:
    if type(value) not in (int, float):
        return False
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except OverflowError:
        return False


@given(value=VALUES, field=st.sampled_from(["fetch_usd", "read_usd", "judge_usd", "search"]))
def test_a_price_is_a_finite_number_of_dollars_or_a_config_error(value: object,
                                                                 field: str) -> None:
    kwargs = {"search_usd": {"serper": value}} if field == "search" else {field: value}
    if _dollars(value) and value >= 0:  # type: ignore[operator]
        Prices(**kwargs)  # type: ignore[arg-type]
    else:
        with pytest.raises(ConfigError, match="Expects a price >= 0"):
            Prices(**kwargs)  # type: ignore[arg-type]


@given(value=VALUES)
def test_a_budget_is_positive_dollars_or_none_or_a_config_error(value: object) -> None:
    if value is None or (_dollars(value) and value > 0):  # type: ignore[operator]
        check_budget(value)  # type: ignore[arg-type]
    else:
        with pytest.raises(ConfigError, match="Expects budget_usd > 0"):
            check_budget(value)  # type: ignore[arg-type]


GOOD = {"searches": 2, "fetches": 1, "reads": 0, "cached": 1, "reader_tokens": 0,
        "usd": 0.25, "step_usd": [0.25, 0.0]}


@given(field=st.sampled_from(["usd", "step_usd", "searches", "reader_tokens"]),
       value=st.one_of(st.sampled_from([float("nan"), float("inf"), -0.5, -1, "0.1", True,
                                        10**400])))
def test_a_recorded_cost_that_is_no_bill_is_a_value_error(field: str, value: object) -> None:
    """What the store names as a damaged record (a NaN bill summed to a NaN run cost)."""
    from webresearch.web.costs import Cost

    assert Cost.from_json(GOOD).to_json() == GOOD
    data = {**GOOD, field: [value] if field == "step_usd" else value}
    if field in ("searches", "reader_tokens") and value in ("0.1", True, 10**400, -0.5):
        return  # int() reads these as counts (-0.5 as 0); a negative count is refused
    with pytest.raises((ValueError, OverflowError)):
        Cost.from_json(data)
