"""nbgrader configuration for this course.

The course sources are nbgrader's "source" folder (solutions/) and the student release is exercises/.
`course build`, `course grade` and `course classroom` all load this file, so the CLI and nbgrader agree.
"""

c = get_config()  # noqa: F821 - injected by traitlets when nbgrader loads this file

c.CourseDirectory.course_id = "backend-course"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"

# A stub the learner replaces; the release then scores zero until the learner writes an answer.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Per-cell execution limit while grading: an infinite loop fails its own part, not the whole notebook.
c.Execute.timeout = 30
c.Execute.interrupt_on_timeout = True
# The grading kernel keeps no history file and logs only errors (its start-up warnings mean nothing here),
# and sends what the learner's code writes to stderr as output: nbgrader zeroes a cell with stderr output, and a
# library's warning or logging from correct code must not cost points (course.grading.nbconfig.stderr_as_output).
from course.grading.nbconfig import STDERR_AS_OUTPUT  # noqa: E402

c.Execute.extra_arguments = ["--HistoryManager.hist_file=:memory:", "--IPKernelApp.log_level=ERROR",
                             f"--IPKernelApp.exec_lines={STDERR_AS_OUTPUT}"]

# nbgrader's autograde steps, with Execute replaced by the course's SafeExecute: a cell whose kernel hangs past
# the interrupt or dies gets an error (it scores zero instead of passing for lack of output), the kernel is
# restarted and the other parts are graded; the test helpers are restored before every test cell, and what the
# tamper check found goes to FlagForReview, which runs after the scores are saved and marks them for review.
c.Autograde.autograde_preprocessors = [
    "course.grading.preprocessors.SafeExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "course.grading.preprocessors.FlagForReview",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# A test cell a learner deleted comes back from the source (and the learner is told).
c.OverwriteCells.add_missing_cells = True

# Feedback never shows hidden test code: ClearHiddenTests removes the hidden blocks from the sources, and
# the course's HideTestTracebacks cuts tracebacks of test cells down to their last line (a traceback quotes
# the failing line, which may be hidden). Order matters: grades are read before anything is cleared.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "course.grading.preprocessors.HideTestTracebacks",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
