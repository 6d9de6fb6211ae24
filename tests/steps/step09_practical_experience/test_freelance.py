"""course.steps.step09_practical_experience.freelance: the quote's arithmetic, and the statement of work's sections."""

from __future__ import annotations

import pytest

from course.steps.step09_practical_experience import freelance


def test_a_quote_adds_the_buffer_and_rounds_up():
    offer = freelance.quote({"a": 3, "b": 6, "c": 4, "d": 2}, 50, buffer=0.25, deposit_share=0.3)
    assert (offer.hours, offer.buffered_hours, offer.price, offer.deposit, offer.balance) == (15, 18.75, 938, 282, 656)
    exact = freelance.quote({"x": 10}, 30, buffer=0.1, costs=20, deposit_share=0)
    assert (exact.price, exact.deposit, exact.balance) == (350, 0, 350)  # 11 h x 30 + 20, no float surprise
    assert offer.lines("EUR")[1] == "fixed price 938 EUR: 282 EUR on signature, 656 EUR on acceptance"


def test_a_quote_takes_each_number_as_written():
    # in floats, (0.1 + 0.2) x 10 is 3.0000000000000004 and 100 x 0.07 is 7.000000000000001: each would round up
    assert freelance.quote({"a": 0.1, "b": 0.2}, 10, buffer=0, deposit_share=0).price == 3
    offer = freelance.quote({"x": 10}, 10, buffer=0, deposit_share=0.07)
    assert (offer.price, offer.deposit, offer.balance) == (100, 7, 93)
    assert freelance.quote({"x": 10}, 30, buffer=0.1, deposit_share=0).buffered_hours == 11


@pytest.mark.parametrize("kwargs", [{"tasks": {}}, {"tasks": {"a": 0}}, {"hourly_rate": 0}, {"buffer": -0.1},
                                    {"deposit_share": 1.5}, {"costs": -1}])
def test_a_quote_refuses_inputs_that_make_no_sense(kwargs):
    arguments = {"tasks": {"a": 1}, "hourly_rate": 10, **kwargs}
    with pytest.raises(ValueError):
        freelance.quote(arguments.pop("tasks"), arguments.pop("hourly_rate"), **arguments)


def test_missing_sections_reads_headings_in_either_style():
    draft = "## Goal\nx\nDeliverables:\ny\n# acceptance criteria\nz\n"
    assert freelance.missing_sections(draft) == ["Out of scope", "Timeline", "Price and payment", "Change requests"]
    full = "\n".join(f"## {name}\ntext" for name in freelance.SOW_SECTIONS)
    assert freelance.missing_sections(full) == []
