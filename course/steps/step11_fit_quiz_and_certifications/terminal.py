"""The career-fit quiz in a terminal (``course quiz``): the same items, scoring and figures as the notebook.

Like the notebook's widget, it offers to reload saved answers, and it prints the result with the next steps
and the method through the same functions of :mod:`.quiz`.
"""

from __future__ import annotations

from course.steps.step11_fit_quiz_and_certifications import quiz

__all__ = ["result_lines", "run_terminal_quiz"]


def result_lines(result: quiz.QuizResult) -> list[str]:
    """The whole result as the terminal prints it: headline, ranking, reasons, next steps and the method."""
    lines = result.summary_lines()
    steps = quiz.next_steps(result)
    if steps:
        lines.append("What to do next in this course:")
        lines.extend(f"    - {step['stem']} ({step['title']}): {step['why']}." for step in steps)
    lines.append(f"How this was worked out: {quiz.METHOD}")
    return lines


def run_terminal_quiz(input=input, output=print, workspace=None) -> quiz.QuizResult | None:  # noqa: A002
    """Ask every item in a terminal, print the result and save it to the progress store.

    When answers were saved before, it first offers to reload them (as the notebook's widget does): ``r``
    shows their result again, Enter starts afresh. Type 1-5 to answer, ``b`` to go back, ``q`` to stop.
    Returns the result, or ``None`` if stopped early (or standard input ended).
    """
    items = quiz.load_items()
    labels = quiz.scale_labels()
    output("Career-fit quiz: how much would you like each activity? A self-reflection aid, not a test.")
    saved = quiz.load_saved(workspace)
    if saved is not None:
        try:
            reply = input("You have saved answers from an earlier try. Type r to reload them and see their "
                          "result, or press Enter to start again: ").strip().lower()
        except EOFError:
            output("Stopped: no more input. Nothing was changed.")
            return None
        if reply == "r":
            output("Your saved answers, scored with the current course data (nothing new was saved):")
            for line in result_lines(saved):
                output(line)
            return saved
    output("  " + "   ".join(f"{k} = {v}" for k, v in labels.items()))
    output("  Type b to go back, q to stop.")
    answers: dict[str, int] = {}
    index = 0
    while index < len(items):
        item = items[index]
        try:
            reply = input(f"[{index + 1}/{len(items)}] {item.text} (1-5) ").strip().lower()
        except EOFError:
            output("Stopped: no more input. Nothing was saved.")
            return None
        if reply == "q":
            output("Stopped. Nothing was saved.")
            return None
        if reply == "b":
            index = max(index - 1, 0)
            continue
        if reply not in {"1", "2", "3", "4", "5"}:
            output("  Please type a number from 1 to 5 (or b to go back, q to stop).")
            continue
        answers[item.id] = int(reply)
        index += 1
    result = quiz.score(answers)
    for line in result_lines(result):
        output(line)
    output(f"Saved to {quiz.save(result, workspace)}.")
    return result
