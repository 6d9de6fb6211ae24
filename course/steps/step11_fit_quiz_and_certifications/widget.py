"""The career-fit quiz as an ipywidgets interface, shown in notebook 11.

One question at a time, with a progress bar and Back / Next buttons. Every control is a native form control
(radio buttons and buttons), so the quiz works with the keyboard alone: Tab moves between the answers and the
buttons, the arrow keys choose an answer, Enter or Space presses a button. Feedback is given in words, never
by colour alone. At the end it shows the learner's profile against the back-end profile (a chart whose two
series differ by pattern as well as colour), the ranked careers with their reasons, the course steps to
revisit and the certifications that suit the best-fitting careers; it saves answers and result to the
progress store, from which they can be reloaded. The scoring itself lives in :mod:`course.steps.step11_fit_quiz_and_certifications.quiz`.
"""

from __future__ import annotations

import html
import io

import ipywidgets as widgets

from course.steps.step11_fit_quiz_and_certifications import quiz

__all__ = ["QuizWidget", "profile_chart", "profile_png", "result_html"]

KEYBOARD_HELP = ("Keyboard: Tab moves between the answers and the buttons, the arrow keys choose an answer, "
                 "Enter or Space presses a button.")


def profile_chart(result: quiz.QuizResult):
    """A matplotlib Figure: the learner's profile against the back-end developer's, dimension by dimension."""
    from matplotlib.figure import Figure

    dims = quiz.load_dimensions()
    backend = next(c for c in quiz.load_careers() if c.id == quiz.BACKEND)
    names = list(quiz.DIMENSIONS)
    labels = [f"{dims[d]['label']} ({d})" if d in quiz.RIASEC else dims[d]["label"] for d in names]
    fig = Figure(figsize=(7.5, 6.2))
    ax = fig.subplots()
    ys = range(len(names))
    you = [100 * result.profile[d] for d in names]
    them = [100 * backend.profile[d] for d in names]
    ax.barh([y - 0.2 for y in ys], you, height=0.4, color="#1f5f99", label="You")
    ax.barh([y + 0.2 for y in ys], them, height=0.4, color="#f2c14e", edgecolor="#5a4500", hatch="//",
            label="Back-end developer")
    ax.set_yticks(list(ys), labels)
    ax.invert_yaxis()
    ax.axhline(5.5, color="#888888", linewidth=0.8)
    ax.set_xlim(0, 100)
    ax.set_xlabel("how much each dimension appeals to you / matters in the job (0-100)")
    fit = f"fit {quiz.shown(result.backend_fit)}/100" if result.discriminating else "no fit: answers too flat"
    ax.set_title(f"Your profile and the back-end profile ({fit})")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=2, frameon=False)
    fig.tight_layout()
    return fig


def profile_png(result: quiz.QuizResult) -> bytes:
    """The profile chart as PNG bytes."""
    buffer = io.BytesIO()
    profile_chart(result).savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


def _reasons_html(entry: quiz.CareerFit) -> str:
    return "".join(f"<li>{html.escape(r.text)}</li>" for r in entry.reasons) or "<li>No single dimension "\
        "stands out.</li>"


def result_html(result: quiz.QuizResult, saved_to: str | None = None, top: int = 5) -> str:
    """The result in words: back-end fit, ranked careers with reasons, next steps, certifications, method.

    Answers that do not discriminate get the headline saying so, and no fit, ranking, steps or certifications.
    Every figure goes through :func:`quiz.shown`, as in the terminal.
    """
    from course.steps.step11_fit_quiz_and_certifications import certifications

    parts = ["<h3>Your result</h3>", f"<p><strong>{html.escape(result.headline())}</strong></p>"]
    if result.discriminating:
        parts.extend(f"<p><em>Note: {html.escape(n)}</em></p>" for n in result.notes)
        rows = []
        for i, entry in enumerate(result.ranking, start=1):
            cells = (str(i), html.escape(entry.title), str(quiz.shown(entry.fit)), quiz.fit_words(entry.fit))
            if entry.career_id == quiz.BACKEND:  # the row the learner looks for, in bold rather than a label
                cells = tuple(f"<strong>{c}</strong>" for c in cells)
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        head = "".join(f'<th style="text-align:left">{name}</th>' for name in ("Rank", "Career", "Fit", "In words"))
        parts.append(f"<h4>Careers ranked by fit</h4><table><thead><tr>{head}</tr></thead><tbody>"
                     + "".join(rows) + "</tbody></table>")
        parts.append("<h4>Why the best fits fit</h4>")
        shown = list(result.top(3))
        if quiz.BACKEND not in [c.career_id for c in shown]:
            shown.append(result.fit_of(quiz.BACKEND))
        for entry in shown:
            parts.append(f"<p><strong>{html.escape(entry.title)}</strong> ({quiz.shown(entry.fit)}):</p>"
                         f"<ul>{_reasons_html(entry)}</ul>")
        steps = quiz.next_steps(result)
        if steps:
            parts.append("<h4>What to do next in this course</h4><ul>" + "".join(
                f"<li><strong>{html.escape(s['stem'])}</strong> ({html.escape(s['title'])}): "
                f"{html.escape(s['why'])}.</li>" for s in steps) + "</ul>")
        recs = certifications.recommend(result).head(top)
        if len(recs):
            parts.append("<h4>Certifications that suit your best-fitting careers</h4><ul>" + "".join(
                f"<li>{html.escape(r['name'])} ({html.escape(r['exam_code'])}): "
                f"{html.escape(r['why'])}; status: {html.escape(r['status'])}.</li>" for _, r in recs.iterrows())
                + "</ul><p>A portfolio of working projects still counts for more than any of them (see below).</p>")
    parts.append(f"<h4>How this was worked out</h4><p>{html.escape(quiz.METHOD)}</p>"
                 f"<p><small>{html.escape(quiz.credit())}</small></p>")
    if saved_to:
        parts.append(f"<p>Saved to your progress store ({html.escape(saved_to)}); it will be offered again "
                     "the next time you open the quiz.</p>")
    return "".join(parts)


class QuizWidget(widgets.VBox):
    """The quiz, one question at a time. ``workspace`` is the progress store's workspace (default: found
    from ``COURSE_WORKSPACE`` or the current folder); ``save=False`` keeps results out of the store."""

    def __init__(self, workspace=None, *, save: bool = True, offer_saved: bool = True):
        self.items = quiz.load_items()
        self.labels = quiz.scale_labels()
        self.workspace = workspace
        self.save_results = save
        self.answers: dict[str, int] = {}
        self.index = 0
        self.result: quiz.QuizResult | None = None
        self.saved_to: str | None = None
        total = len(self.items)

        self.counter = widgets.HTML()
        self.progress = widgets.IntProgress(value=0, min=0, max=total, description="Answered:")
        self.progress_text = widgets.Label()
        self.statement = widgets.HTML()
        self.choices = widgets.RadioButtons(
            options=[(self.labels[v], v) for v in sorted(self.labels)], value=None,
            description="Your answer:", style={"description_width": "initial"},
        )
        self.feedback = widgets.Label()
        self.back_button = widgets.Button(description="◀ Back", tooltip="Go to the previous question")
        self.next_button = widgets.Button(description="Next ▶", tooltip="Go to the next question",
                                          button_style="primary")
        self.restart_button = widgets.Button(description="Start again", tooltip="Clear every answer")
        self.reload_button = widgets.Button(description="Reload my saved answers",
                                            tooltip="Fill in the answers you saved last time and show the result")
        self.saved_note = widgets.HTML()
        self.chart = widgets.Image(format="png", layout=widgets.Layout(max_width="760px"))
        self.result_view = widgets.HTML()
        self.result_box = widgets.VBox([])
        for widget, name in [(self.back_button, "back"), (self.next_button, "next"),
                             (self.choices, "choices"), (self.statement, "statement"),
                             (self.feedback, "feedback"), (self.reload_button, "reload"),
                             (self.restart_button, "restart"), (self.result_box, "result"),
                             (self.progress_text, "progress-text")]:
            widget.add_class(f"course-quiz-{name}")

        self.choices.observe(self._on_choice, names="value")
        self.back_button.on_click(lambda _: self.go(self.index - 1))
        self.next_button.on_click(lambda _: self._on_next())
        self.restart_button.on_click(lambda _: self.restart())
        self.reload_button.on_click(lambda _: self.reload())

        saved_box = widgets.HBox([])
        if offer_saved and quiz.load_saved(self.workspace) is not None:
            self.saved_note.value = "<p>You have a saved result from an earlier try.</p>"
            saved_box.children = (self.saved_note, self.reload_button)
        super().__init__([
            widgets.HTML(f"<p>{html.escape(KEYBOARD_HELP)}</p>"),
            saved_box,
            widgets.HBox([self.progress, self.progress_text]),
            self.counter, self.statement, self.choices, self.feedback,
            widgets.HBox([self.back_button, self.next_button, self.restart_button]),
            self.result_box,
        ])
        self.add_class("course-quiz")
        self._show()

    # ------------------------------------------------------------------ navigation
    def _show(self) -> None:
        item = self.items[self.index]
        total = len(self.items)
        self.counter.value = f"<p>Question {self.index + 1} of {total}</p>"
        activity = item.text[0].lower() + item.text[1:]  # every item starts with a verb
        self.statement.value = f"<p><strong>How much would you like to {html.escape(activity)}</strong></p>"
        self._updating = True
        self.choices.value = self.answers.get(item.id)
        self._updating = False
        self.back_button.disabled = self.index == 0
        last = self.index == total - 1
        self.next_button.description = "See my result" if last else "Next ▶"
        self.next_button.tooltip = "Score the quiz and show the result" if last else "Go to the next question"
        self._update_progress()
        answer = self.answers.get(item.id)
        self.feedback.value = (f"Your answer: {self.labels[answer]}." if answer
                               else "Choose an answer, then press Next.")

    def _update_progress(self) -> None:
        self.progress.value = len(self.answers)
        self.progress_text.value = f"{len(self.answers)} of {len(self.items)} answered"

    def _on_choice(self, change) -> None:
        if getattr(self, "_updating", False) or change["new"] is None:
            return
        item = self.items[self.index]
        self.answers[item.id] = change["new"]
        self.feedback.value = f"Your answer: {self.labels[change['new']]}."
        self._update_progress()

    def go(self, index: int) -> None:
        """Show question ``index`` (0-based), clamped to the first and last."""
        self.index = min(max(index, 0), len(self.items) - 1)
        self._show()

    def answer(self, value: int) -> None:
        """Answer the current question (as a click on a radio button does)."""
        self.choices.value = value

    def _on_next(self) -> None:
        item = self.items[self.index]
        if item.id not in self.answers:
            self.feedback.value = "Not answered yet: choose one of the five answers before going on."
            return
        if self.index < len(self.items) - 1:
            self.go(self.index + 1)
            return
        missing = [i for i, it in enumerate(self.items) if it.id not in self.answers]
        if missing:
            self.go(missing[0])
            self.feedback.value = (f"{len(missing)} question(s) still need an answer; this is the first. "
                                   "Choose an answer, then press Next.")
            return
        self.finish()

    # ------------------------------------------------------------------ result
    def finish(self) -> quiz.QuizResult:
        """Score the answers, save them (unless ``save=False``) and show the result."""
        self.result = quiz.score(self.answers)
        if self.save_results:
            self.saved_to = quiz.save(self.result, self.workspace)
        self._show_result()
        return self.result

    def _show_result(self) -> None:
        self.chart.value = profile_png(self.result)
        self.result_view.value = result_html(self.result, self.saved_to)
        self.result_box.children = (self.result_view, widgets.HTML(
            "<p>The chart compares your profile (solid bars) with the back-end developer's profile "
            "(hatched bars); RIASEC interests above the line, kinds of technical work below.</p>"), self.chart)
        self.feedback.value = f"Done. {self.result.headline().rstrip('.')}. The result is below."

    def reload(self) -> quiz.QuizResult | None:
        """Fill in the last saved answers and show their result (scored again with the current data)."""
        saved = quiz.load_saved(self.workspace)
        if saved is None:
            self.feedback.value = "No saved answers were found in your progress store."
            return None
        self.answers = dict(saved.answers)
        self.result = saved
        self.saved_to = None
        self.go(len(self.items) - 1)
        self._show_result()
        self.saved_note.value = "<p>Your saved answers are filled in; change any of them and score again.</p>"
        return saved

    def restart(self) -> None:
        """Clear every answer and go back to the first question (the saved result stays saved)."""
        self.answers = {}
        self.result = None
        self.result_box.children = ()
        self.go(0)
