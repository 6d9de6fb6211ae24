"""The terminal quiz (``course quiz``): every item asked, mistakes handled, saving, stopping early, and the
offer to reload saved answers that the notebook's widget also makes."""

from __future__ import annotations

from course.steps.step11_fit_quiz_and_certifications import quiz
from course.steps.step11_fit_quiz_and_certifications.terminal import result_lines, run_terminal_quiz

IDS = [item.id for item in quiz.load_items()]
DATA_AND_DEBUGGING = {"data": 1.0, "systems": 1.0, "I": 0.9, "C": 0.7, "quality": 0.6, "security": 0.6,
                      "infrastructure": 0.4, "visual": 0.0, "people": 0.1, "A": 0.1}
RUNNING_INFRASTRUCTURE = {"infrastructure": 1.0, "R": 0.5, "systems": 0.8, "security": 0.5, "C": 0.6,
                          "visual": 0.0, "people": 0.2}


def scripted(replies):
    replies = iter(replies)

    def fake_input(prompt):
        try:
            return next(replies)
        except StopIteration:
            raise EOFError from None

    return fake_input


def test_terminal_quiz_asks_every_item_handles_mistakes_and_saves(tmp_path):
    answers = quiz.answers_for(DATA_AND_DEBUGGING)
    replies = ["7", "", str(answers["q01"]), "b"] + [str(answers[i]) for i in IDS]
    printed = []
    result = run_terminal_quiz(input=scripted(replies), output=printed.append, workspace=tmp_path)
    assert result == quiz.score(answers)
    assert sum("Please type a number from 1 to 5" in line for line in printed) == 2
    assert any(line.startswith("Back-end fit:") for line in printed)
    assert any("Saved to" in line for line in printed)
    assert quiz.load_saved(tmp_path) == result


def test_terminal_quiz_stops_on_q_or_end_of_input_without_saving(tmp_path):
    printed = []
    assert run_terminal_quiz(input=scripted(["4", "q"]), output=printed.append, workspace=tmp_path) is None
    assert run_terminal_quiz(input=scripted(["4"]), output=printed.append, workspace=tmp_path) is None
    assert quiz.load_saved(tmp_path) is None
    assert any("Nothing was saved" in line for line in printed)



def test_terminal_quiz_offers_to_reload_saved_answers(tmp_path):
    saved = quiz.score(quiz.answers_for(RUNNING_INFRASTRUCTURE))
    quiz.save(saved, tmp_path)
    printed = []
    again = run_terminal_quiz(input=scripted(["r"]), output=printed.append, workspace=tmp_path)
    assert again == saved
    assert any("saved answers" in line for line in printed)
    assert any(line.startswith(f"Back-end fit: {quiz.shown(saved.backend_fit)}/100") for line in printed)
    assert not any(line.startswith("Saved to") for line in printed)  # reloading saves nothing new

    fresh = quiz.answers_for(DATA_AND_DEBUGGING)
    printed = []
    result = run_terminal_quiz(input=scripted([""] + [str(fresh[i]) for i in IDS]), output=printed.append,
                                    workspace=tmp_path)
    assert result == quiz.score(fresh) and quiz.load_saved(tmp_path) == result
    assert run_terminal_quiz(input=scripted([]), output=printed.append, workspace=tmp_path) is None
    assert quiz.load_saved(tmp_path) == result  # ending input at the prompt changes nothing


def test_result_lines_give_the_headline_the_next_steps_and_the_method():
    result = quiz.score(quiz.answers_for(DATA_AND_DEBUGGING))
    lines = result_lines(result)
    assert lines[0] == result.headline()
    assert "What to do next in this course:" in lines
    assert lines[-1] == f"How this was worked out: {quiz.METHOD}"
    flat = result_lines(quiz.score(dict.fromkeys(IDS, 3)))
    assert flat[0].startswith("Your answers do not tell the careers apart") and len(flat) == 2


def test_course_quiz_reloads_saved_answers_from_the_command_line(tmp_path):
    from click.testing import CliRunner

    from course import cli

    saved = quiz.score(quiz.answers_for(DATA_AND_DEBUGGING))
    quiz.save(saved, tmp_path)
    run = CliRunner().invoke(cli.main, ["quiz", "--workspace", str(tmp_path)], input="r\n")
    assert run.exit_code == 0, run.output
    assert "saved answers" in run.output and saved.headline() in run.output
    assert "86.7" not in run.output and f"{quiz.shown(saved.backend_fit)}/100" in run.output
