"""The feedback page of ``course grade``: nbgrader's GenerateFeedback, readied while the kernel runs the tests.

Rendering the page is the last step of grading, on the critical path, and about half of its time is not the
page but getting ready for it: importing the Markdown and highlighting filters (mistune, pygments' lexers) and
compiling nbgrader's feedback template and nbconvert's classic ones with Jinja. None of that depends on the
grade. So, when the kernel starts on the first cell (this process has imported nbgrader by then and only waits
on the kernel, which runs on the other core), :func:`prepare` forks a child (:class:`Writer`) that

1. imports what the page needs and renders a throw-away page of the release notebook through an exporter
   configured as GenerateFeedback configures its own: Jinja compiles every template on the way and keeps the
   code in :data:`TEMPLATES`, an in-memory bytecode cache that every exporter of the child uses from then on
   (Jinja checks each entry against its template's source before using it);
2. waits on a pipe; :func:`start` tells it to go once the autograded notebook and the gradebook are written,
   and it renders the real page while the grader reads the scores and stops the kernel; :func:`finish` waits.

A child, not a thread: a thread would take the interpreter lock from the main thread just when it relays the
kernel's messages, and every cell would wait longer (measured: it cost about what it saved). The warm-up is
best effort: if it fails, the child renders the page from scratch. If grading fails, :meth:`Writer.cancel`
ends the child; if the grader dies, the child reads the pipe's end and exits (nothing outlives grading).
Nothing is written to disk (a bytecode cache on disk would be code that another user of a shared machine could
plant). Where fork does not exist, the page is rendered in this process, unreadied.
"""

from __future__ import annotations

import copy
import os

__all__ = ["TEMPLATES", "Writer", "prepare", "start", "finish", "with_table_style"]

# nbgrader's feedback page loads Bootstrap, which sets `td, th {padding: 0}`, and nothing styles a markdown table
# again: a table's headers ran together ("value for the line aboverule"). This gives them padding and borders.
TABLE_STYLE = """<style>
.rendered_html table {border-collapse: collapse; margin: 0.5em 0 1em;}
.rendered_html th, .rendered_html td {padding: 0.3em 0.8em; border: 1px solid #d0d0d0; text-align: left;
  vertical-align: top;}
.rendered_html thead th {background: #f5f5f5;}
</style>
"""


def with_table_style(page: str) -> str:
    head_end = page.find("</head>")
    return page if head_end < 0 else page[:head_end] + TABLE_STYLE + page[head_end:]


class _MemoryBytecodeCache:
    """A Jinja bytecode cache kept in this process's memory (made a real ``jinja2.BytecodeCache`` on first use,
    so importing this module stays cheap)."""

    def __init__(self):
        self.codes: dict[str, bytes] = {}
        self._cache = None

    def cache(self):
        if self._cache is None:
            import jinja2

            codes = self.codes

            class Cache(jinja2.BytecodeCache):
                def load_bytecode(self, bucket):
                    code = codes.get(bucket.key)
                    if code is not None:
                        bucket.bytecode_from_string(code)  # checked against the source's checksum

                def dump_bytecode(self, bucket):
                    codes[bucket.key] = bucket.bytecode_to_string()

            self._cache = Cache()
        return self._cache


TEMPLATES = _MemoryBytecodeCache()


def _use_template_cache() -> None:
    """Every nbconvert template exporter of this process compiles through :data:`TEMPLATES`."""
    from nbconvert.exporters.templateexporter import TemplateExporter

    original = TemplateExporter._create_environment
    if getattr(original, "_course_cached", False):
        return

    def create_environment(self):
        environment = original(self)
        environment.bytecode_cache = TEMPLATES.cache()
        return environment

    create_environment._course_cached = True
    TemplateExporter._create_environment = create_environment


def _exporter(config):
    """An HTML exporter configured as nbgrader's GenerateFeedback configures its own."""
    import nbgrader.converters.generate_feedback as generate_feedback
    from nbconvert.exporters import HTMLExporter
    from traitlets.config import Config

    here = os.path.dirname(os.path.dirname(os.path.abspath(generate_feedback.__file__)))
    formgrader = os.path.join(here, "server_extensions", "formgrader")
    extra = Config()
    extra.HTMLExporter.template_name = "feedback"
    extra.HTMLExporter.extra_template_basedirs = [os.path.join(formgrader, "templates")]
    extra.HTMLExporter.extra_template_paths = [os.path.join(formgrader, "static", "node_modules", "bootstrap",
                                                            "dist", "css")]
    merged = copy.deepcopy(config)
    merged.merge(extra)
    return HTMLExporter(config=merged)


def _warm(config, notebook: str, stem: str) -> None:
    try:
        import nbformat

        _use_template_cache()
        nb = nbformat.read(notebook, as_version=4)
        for cell in nb.cells:  # what nbgrader's GetGrades puts on each graded cell, and the page reads
            grading = cell.metadata.get("nbgrader") or {}
            if grading.get("grade") or grading.get("task"):
                grading.setdefault("score", 0)
                grading.setdefault("points", 0)
        resources = {"nbgrader": {"notebook": stem, "score": 0, "max_score": 0, "late_penalty": 0}}
        _exporter(config).from_notebook_node(nb, resources=resources)
    except Exception:  # noqa: BLE001 - best effort: the real page is rendered whatever happened here
        pass


class Writer:
    """The forked child that readies the feedback page and renders it when told to (see the module docstring),
    or None where this platform cannot fork (the page is then rendered in this process, unreadied)."""

    def __init__(self, config, release, stem: str, run_converter):
        import multiprocessing

        context = multiprocessing.get_context("fork")
        self._receive, self._send = context.Pipe(duplex=False)
        self.process = context.Process(target=_child, name="course-feedback", daemon=True,
                                       args=(config, str(release), stem, run_converter, self._receive, self._send))
        self.process.start()
        self._receive.close()

    def go(self) -> None:
        """Render the page now (the autograded notebook and the gradebook are written)."""
        self._send.send_bytes(b"go")
        self._send.close()

    def cancel(self) -> None:
        """No page after all (grading failed): the child ends without one."""
        if not self._send.closed:
            self._send.close()  # the child reads the end of the pipe and exits
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()

    def wait(self, timeout: float = 120) -> bool:
        self.process.join(timeout=timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
            return False
        return self.process.exitcode == 0


def _child(config, release: str, stem: str, run_converter, receive, send) -> None:
    send.close()  # this copy of the sending end closed: if the grader dies, the child reads the pipe's end
    _warm(config, release, stem)
    try:
        order = receive.recv_bytes()
    except (EOFError, OSError):
        order = b""
    if order != b"go":
        os._exit(2)
    config.HTMLExporter.template_name = "feedback"
    outcome = run_converter("GenerateFeedback", config, stem)
    os._exit(0 if outcome["success"] else 1)


def prepare(config, release, stem: str, run_converter) -> Writer | None:
    """Fork the child that readies the feedback page while the kernel runs (None where fork does not exist).
    Called when the kernel starts on the first cell: nbgrader is imported by then, and this process only waits
    on the kernel, so the child has the other core to itself."""
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    return Writer(config, release, stem, run_converter)


def start(writer: Writer | None) -> None:
    """The autograded notebook and the gradebook are written: the readied child renders the page now, while
    the grader reads the scores and stops the kernel."""
    if writer is not None:
        writer.go()


def finish(writer: Writer | None, config, stem: str, run_converter) -> bool:
    """Wait for the page (or, where no child could be forked, render it in this process)."""
    if writer is None:
        config.HTMLExporter.template_name = "feedback"
        return run_converter("GenerateFeedback", config, stem)["success"]
    return writer.wait()
