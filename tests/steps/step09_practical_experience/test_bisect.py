"""course.steps.step09_practical_experience.bisect: the generated history holds its regression where it says,
the lesson's script finds it with git bisect run (skipping the untestable commit), and without 125 it does not."""

from __future__ import annotations

import math

import pytest

from course.steps import step06_open_source as gitrepo
from course.steps.step09_practical_experience import bisect


@pytest.fixture(scope="module")
def shop():
    regression = bisect.make_regression_repo(commits=24, regression=17, untestable=11)
    yield regression
    gitrepo.cleanup()


def _command(shop, script):
    return ["python", str(script), str(shop.folder / "test_regression.py")]


def test_the_history_is_deterministic_and_has_its_regression_where_it_says(shop):
    again = bisect.make_regression_repo(commits=24, regression=17, untestable=11)
    assert again.commits == shop.commits and len(shop.commits) == 24
    assert shop.subject(shop.first_bad) == "Simplify the tax computation"
    assert shop.repo.git("rev-parse", "v1.0").strip() == shop.commits[0]
    truth = {index: bisect.is_good(shop, shop.commits[index]) for index in (0, 10, 11, 12, 16, 17, 23)}
    assert truth == {0: True, 10: True, 11: None, 12: True, 16: True, 17: False, 23: False}
    assert shop.repo.branch() == "main"


@pytest.mark.service
def test_bisect_run_finds_the_first_bad_commit_skipping_the_untestable_one(shop):
    found = bisect.bisect_run(shop.path, shop.good, shop.bad, _command(shop, shop.folder / "check.py"))
    assert found.first_bad == shop.first_bad
    assert (shop.untestable, "skip") in found.tested
    assert found.steps - 1 <= math.ceil(math.log2(len(shop.commits) - 1))  # halving, plus the skipped commit
    assert shop.repo.branch() == "main" and "bisect" not in shop.repo.run("bisect", "log").stdout


@pytest.mark.service
def test_without_125_bisect_blames_the_untestable_commit(shop):
    script = bisect.write_check_script(shop.folder, bisect.CHECK_SCRIPT.replace("sys.exit(125)", "sys.exit(1)"), "bad.py")
    found = bisect.bisect_run(shop.path, shop.good, shop.bad, _command(shop, script))
    assert found.first_bad == shop.untestable != shop.first_bad


@pytest.mark.parametrize(("commits", "regression", "untestable"), [(30, 22, 14), (40, 29, 19), (16, 11, 7)])
def test_the_exercise_histories_put_the_untestable_commit_where_bisect_looks_first(commits, regression, untestable):
    # git bisect tests the middle commit first; an untestable commit there is what makes 125 matter
    assert untestable == (commits - 1) // 2 and regression > untestable + 1


def test_impossible_histories_are_refused():
    with pytest.raises(ValueError, match="regression"):
        bisect.make_regression_repo(commits=5, regression=5)
    with pytest.raises(ValueError, match="untestable"):
        bisect.make_regression_repo(commits=10, regression=4, untestable=3)
    gitrepo.cleanup()


def test_tested_commits_reads_the_marks_after_the_users_own():
    a, b, c, d = (ch * 40 for ch in "abcd")
    log = f"git bisect start\n# bad: [{a}] x\ngit bisect bad {a}\n# good: [{b}] y\ngit bisect good {b}\n" \
          f"git bisect skip {c}\ngit bisect bad {d}\n# first bad commit: [{d}] z\n"
    assert bisect.tested_commits(log) == [(c, "skip"), (d, "bad")]
