"""course.steps.step09_practical_experience.measure: coverage.py's real figures for the lesson's suites, and the
mutants of shipping.py (each one a real change that some correct test catches)."""

from __future__ import annotations

import pytest

from course.steps.step09_practical_experience import measure

LINES_ONLY = '''
import pytest
from shipping import shipping_cents

def test_heavy_express_to_france():
    assert shipping_cents(3500, "FR", express=True) == 1400

def test_nothing():
    with pytest.raises(ValueError):
        shipping_cents(0, "DE")
'''
FULL = LINES_ONLY + '''
def test_light_standard_abroad():
    assert shipping_cents(800, "DE") == 900

def test_over_two_kilograms():
    assert shipping_cents(2001, "FR") == 600
'''


@pytest.mark.slow
def test_line_coverage_can_be_full_while_branches_are_not():
    partial = measure.coverage_of("shipping", measure.SHIPPING, LINES_ONLY)
    assert partial.tests_passed and partial.line_percent == 100.0 and partial.missing_lines == []
    assert partial.branch_percent < 100.0 and partial.missing_branches == [(10, 12), (12, 14)]
    full = measure.coverage_of("shipping", measure.SHIPPING, FULL)
    assert (full.line_percent, full.branch_percent, full.missing_branches) == (100.0, 100.0, [])
    assert "shipping.py" in full.output and "100%" in full.output


@pytest.mark.slow
def test_a_suite_that_fails_or_does_not_import_is_reported():
    failing = measure.coverage_of("shipping", measure.SHIPPING, FULL.replace("== 900", "== 901"))
    assert not failing.tests_passed
    nothing = measure.coverage_of("shipping", measure.SHIPPING, "def test_x():\n    pass\n")
    assert nothing.tests_passed and nothing.line_percent == 0.0


@pytest.mark.slow
def test_every_mutant_is_a_real_change_caught_by_the_full_suite_and_missed_by_calls():
    assert all(measure.shipping_mutant(name) != measure.SHIPPING for name in measure.SHIPPING_MUTANTS)
    assert measure.surviving_mutants(FULL) == []
    calls = "from shipping import shipping_cents\n\ndef test_runs():\n    shipping_cents(3000, 'FR', True)\n"
    assert measure.surviving_mutants(calls) == list(measure.SHIPPING_MUTANTS)
