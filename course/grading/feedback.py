"""The feedback page of ``course grade``: nbgrader's GenerateFeedback, readied while the kernel runs the tests.

Rendering the page is the last step of grading, on the critical path, and about half of its time is not the
page but getting ready for it: importing the Markdown and highlighting filters (mistune, pygments' lexers) and
compiling nbgrader's feedback template and nbconvert's classic ones with Jinja. None of that depends on the
grade. So, once this process has imported nbgrader and before nbgrader's autograde starts (the kernel, booted by
then, leaves a core idle until the first cell; while the cells run this process mostly waits on the kernel),
:func:`prepare` forks a child (:class:`Writer`) that

1. imports what the page needs and renders a throw-away page of the release notebook (dressed as a graded one:
   the kernel's language and an output on every code cell, :func:`_warm`) through an exporter configured as
   GenerateFeedback configures its own: Jinja compiles every template on the way and keeps the
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


# nbconvert's HTMLExporter parses every page it renders with BeautifulSoup (html.parser) and writes it out again,
# for three edits: alt text on images without one, and tabindex on the input and output areas of JupyterLab's
# templates. On a feedback page (nbgrader's template, built on the classic one) there is usually nothing to edit,
# and the round trip was about half of rendering it. In the child, :class:`_Page` stands in for BeautifulSoup:
# a selector below whose mark is nowhere in the page's text matches nothing, so the page is kept as rendered;
# any other selector, or a page holding the mark, is parsed and edited by BeautifulSoup as before.
ABSENT_UNLESS = {"img:not([alt])": "<img", ".jp-Notebook div.jp-Cell-inputWrapper": "jp-notebook",
                 ".jp-Notebook div.jp-OutputArea-output": "jp-notebook"}


class _Page:
    """BeautifulSoup's place in nbconvert's HTMLExporter (see :data:`ABSENT_UNLESS`): parses only if needed."""

    def __init__(self, html: str, **kwargs):
        self._html, self._kwargs, self._soup = html, kwargs, None
        self._lower = html.lower()

    def _parsed(self):
        if self._soup is None:
            from bs4 import BeautifulSoup

            self._soup = BeautifulSoup(self._html, **self._kwargs)
        return self._soup

    def select(self, selector: str, *args, **kwargs):
        mark = ABSENT_UNLESS.get(selector)
        if self._soup is None and mark is not None and mark not in self._lower:
            return []
        return self._parsed().select(selector, *args, **kwargs)

    def __str__(self) -> str:
        return self._html if self._soup is None else str(self._soup)

    def __getattr__(self, name: str):
        """Anything else nbconvert may ask of the page (a later version's edit): the parsed page's own."""
        return getattr(self._parsed(), name)


def _parse_only_if_needed() -> None:
    """nbconvert's HTMLExporter, in this process, parses a page only when it has something to edit (_Page)."""
    import nbconvert.exporters.html as html_exporter

    html_exporter.BeautifulSoup = _Page


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


# What the grading kernel (ipykernel) reports: the page highlights code with IPython's lexer, whose module (and
# its regular expressions) load on first use, which the release notebook alone (no language_info) never makes.
LANGUAGE_INFO = {"name": "python", "pygments_lexer": "ipython3", "codemirror_mode": {"name": "ipython", "version": 3},
                 "mimetype": "text/x-python", "file_extension": ".py", "nbconvert_exporter": "python"}


def _warm(config, notebook: str, stem: str) -> None:
    """Render a throw-away page of the release notebook dressed as an autograded one: the kernel's language_info,
    and on each code cell the outputs a graded cell has (a failed check's traceback, in colour, and printed
    text), so that every filter and template path the real page takes has run once (imports, compiled
    regular expressions, Jinja's compiled templates)."""
    try:
        import nbformat

        _use_template_cache()
        nb = nbformat.read(notebook, as_version=4)
        nb.metadata.setdefault("language_info", LANGUAGE_INFO)
        for cell in nb.cells:  # what nbgrader's GetGrades puts on each graded cell, and the page reads
            grading = cell.metadata.get("nbgrader") or {}
            if grading.get("grade") or grading.get("task"):
                grading.setdefault("score", 0)
                grading.setdefault("points", 0)
            if cell.cell_type == "code":
                cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="warm-up\n"),
                                nbformat.v4.new_output("error", ename="CheckFailed", evalue="warm-up",
                                                       traceback=["\x1b[0;31mCheckFailed\x1b[0m: warm-up"])]
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
    _parse_only_if_needed()
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
    """Fork the child that readies the feedback page while grading runs (None where fork does not exist).
    Called with nbgrader imported (the child has it too) and before nbgrader's autograde starts."""
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
