"""The guard in the grading kernel: it keeps the test helpers as the course wrote them, and notes what changed.

:class:`course.grading.preprocessors.SafeExecute` sends this module's source into the kernel before the first
cell (nothing of the student's has run yet) and runs it in a private namespace with a private copy of the
builtins (:func:`install_code`). The guard records what the tests rely on (the check helpers and the modules
they use, the builtins, the IPython shell's methods and hooks, the names the setup cells bound) and installs an
audit hook (PEP 578: it cannot be removed) that notes files written outside the folder, the gradebook or the
solutions opened, ``gc``/``ctypes`` games, trace and profile functions (``sys.settrace``, ``sys.setprofile``,
``threading.setprofile``: a student's could watch the hidden tests run; the one exception is the course's own
call counter, :func:`course.grading.checks.compare_digest_calls`, starting a thread in a test cell, known by
identity). Before each test cell it compares, notes what changed and puts the originals back. The parent
reaches it without any name the student can shadow (:func:`guard_call`; :func:`guard_calls` makes the calls due
between two cells in one request).

The hidden tests stay out of the student's reach: a test cell runs without history (the executor sends it
with ``store_history=False``: no ``In``/``_ih``/``_i``/``Out`` entry, nothing in the history database), its
source never enters ``linecache`` (IPython's compiler caches every cell there for tracebacks and
``inspect``), the kernel's copy of the request (``get_parent()``) loses its code while it runs, and after it
:meth:`KernelGuard.after_test` drops its traceback (``sys.last_traceback`` holds its frames) and the shell's
last result.

Only the standard library is imported here: the same source runs in the kernel. The static half of the
tamper check, and where verdicts are kept, is :mod:`course.grading.tamper`.
"""

from __future__ import annotations

import ast
import json
import linecache
import os
import sys
import threading

__all__ = ["CHECK_NAMES", "KernelGuard", "install_code", "guard_call", "guard_calls", "parse_findings"]

CHECK_NAMES = ("check", "check_that", "check_raises", "all_checks", "CheckFailed")
MAX_FINDINGS = 20

# Audit events that change files, and which arguments are paths. Changing a file's mode or times is only
# reported on the grader's own files (libraries chmod their own binaries: embedded PostgreSQL does).
WRITE_EVENTS = {"os.remove": (0,), "os.rmdir": (0,), "os.rename": (0, 1), "os.truncate": (0,), "os.symlink": (0, 1),
                "os.link": (0, 1), "os.mkdir": (0,), "shutil.rmtree": (0,), "shutil.move": (0, 1),
                "shutil.copyfile": (1,), "shutil.copytree": (1,), "sqlite3.connect": (0,)}
TOUCH_EVENTS = {"os.chmod": (0,), "os.chown": (0,), "os.utime": (0,)}
WATCHED_MODULES = ("builtins", "math", "operator", "numbers", "reprlib", "course", "course.grading",
                   "course.grading.checks")
SHELL_METHODS = ("run_cell", "run_cell_async", "run_ast_nodes", "run_code", "showtraceback", "_showtraceback",
                 "showsyntaxerror", "transform_cell", "transform_ast", "should_run_async", "user_expressions",
                 "ex", "ev")
KERNEL_METHODS = ("do_execute", "execute_request", "send_response", "_publish_execute_input")
INPUT_HOOKS = ("cleanup_transforms", "line_transforms", "token_transformers")  # they see each cell's raw text
THREAD_HOOKS = {"_profile_hook": "threading.setprofile", "_trace_hook": "threading.settrace"}
NOISY_BUILTINS = {"input", "raw_input", "getpass", "_", "__", "___", "display", "get_ipython", "exit", "quit",
                  "__IPYTHON__", "copyright", "credits", "license", "help"}


class KernelGuard:
    """Runs in the grading kernel; see the module docstring. Every public method returns the findings so far."""

    def __init__(self, folder: str, allowed: list[str], forbidden: list[str], brief_tests: bool = False):
        self.brief_tests = brief_tests
        self._mode_before_test: str | None = None
        self.folder = os.path.realpath(folder)
        self.allowed = [os.path.realpath(p) for p in [folder, *allowed]]
        self.forbidden = [os.path.realpath(p) for p in forbidden]
        self.findings: list[str] = []
        self.remembered: dict[str, object] = {}
        self._busy = False
        self._testing = False
        self._cells_cached: set[str] = set()

    @classmethod
    def install(cls, nonce: str, folder: str, allowed: list[str], forbidden: list[str],
                brief_tests: bool = False) -> list[str]:
        import builtins

        guard = cls(folder, allowed, forbidden, brief_tests)
        guard.shell = getattr(builtins, "get_ipython", lambda: None)()
        import course.grading.checks as checks  # noqa: F401 - loaded now, before any student code

        if guard.shell is not None:  # before the baseline: the guard's own callback is part of it
            guard.shell.events.register("pre_run_cell", guard._pre_run_cell)

        guard.baseline = guard._snapshot()
        guard.modules = {name: sys.modules.get(name) for name in WATCHED_MODULES}
        guard.states = {name: {key: value for key, value in vars(module).items()
                               if callable(value) and not (name == "builtins" and key in NOISY_BUILTINS)}
                        for name, module in guard.modules.items() if module is not None}
        guard.checks_state = guard.states["course.grading.checks"]
        # A test cell's own profiler (checks.compare_digest_calls) is set in each thread a thread's bootstrap
        # starts; both are known here by identity, before any student code runs (see _course_profiler).
        guard.profiler = guard.checks_state.get("_count_compare_digest")
        guard.profiler_code = getattr(guard.profiler, "__code__", None)
        guard.threading = threading
        guard.bootstrap_code = threading.Thread._bootstrap_inner.__code__
        # A test cell's own line counter (checks.count_lines) sets its trace function from two functions of
        # checks, known here by their code; the function they install must be the original (see _course_tracer).
        guard.tracer = guard.checks_state.get("_trace_call")
        guard.tracer_setters = {getattr(guard.checks_state.get(name), "__code__", None)
                                for name in ("_lines_enter", "_lines_exit")} - {None}
        shell = guard.shell
        guard.hooks = None if shell is None else {
            "ast_transformers": list(shell.ast_transformers),
            "input_transformers_post": list(shell.input_transformers_post),
            "input": {name: list(getattr(shell.input_transformer_manager, name, [])) for name in INPUT_HOOKS},
            "compiler": shell.compile, "code name": _class_attr(type(shell.compile), "get_code_name"),
            "events": {name: list(callbacks) for name, callbacks in shell.events.callbacks.items()},
            "instance": {name for name in SHELL_METHODS if name in vars(shell)}}
        guard.codes = {name: (value.__code__, value.__defaults__, value.__kwdefaults__)
                       for name, value in guard.checks_state.items() if hasattr(value, "__code__")}
        # The parent finds the guard through object.__subclasses__(): no name the student can shadow.
        guard.holder = type(f"CourseGuard{nonce}", (), {"guard": guard, "__module__": "course_guard"})
        sys.addaudithook(guard._audit)  # never removed: it also keeps the guard alive
        return guard.findings

    # what the tests rely on, as identities
    def _snapshot(self) -> dict:
        shot = {}
        for name in WATCHED_MODULES:
            module = sys.modules.get(name)
            if module is not None:
                shot[name] = {key: id(value) for key, value in vars(module).items()
                              if callable(value) and not (name == "builtins" and key in NOISY_BUILTINS)}
        for label, obj, names in (("shell", self.shell, SHELL_METHODS),
                                  ("kernel", getattr(self.shell, "kernel", None), KERNEL_METHODS)):
            if obj is None:
                continue
            shot[label] = {name: id(inspect_attr) for name in names
                           if (inspect_attr := _class_attr(type(obj), name)) is not None}
            shot[label + " instance"] = sorted(n for n in names if n in getattr(obj, "__dict__", {}))
        if self.shell is not None:
            shot["shell hooks"] = {"custom_exceptions": repr(self.shell.custom_exceptions),
                                   "ast_transformers": [id(t) for t in self.shell.ast_transformers],
                                   "input_transformers_post": [id(t) for t in self.shell.input_transformers_post],
                                   "input": [id(t) for name in INPUT_HOOKS
                                             for t in getattr(self.shell.input_transformer_manager, name, [])],
                                   "events": sorted(id(c) for cs in self.shell.events.callbacks.values() for c in cs
                                                    if not _library(c)),
                                   "compiler": [id(self.shell.compile), "cache" in vars(self.shell.compile),
                                                *(id(_class_attr(type(self.shell.compile), name))
                                                  for name in ("cache", "get_code_name"))]}
        return shot

    def _compare(self) -> None:
        shell, own = self.shell, getattr(self, "_own_cache", None)
        if shell is not None and own is not None and vars(shell.compile).get("cache") is own:
            vars(shell.compile).pop("cache")  # the guard's own hiding, left by a test cell with no after_test
        now = self._snapshot()
        for part, before in self.baseline.items():
            after = now.get(part)
            if after == before:
                continue
            if isinstance(before, dict) and isinstance(after, dict):
                changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
                what = ", ".join(changed[:5])
            else:
                what = "changed"
            self._note(f"the kernel's {part} was changed at run time ({what})")
        for name, module in self.modules.items():
            if sys.modules.get(name) is not module and module is not None:
                self._note(f"sys.modules['{name}'] was replaced at run time")
        for hook, call in THREAD_HOOKS.items():  # no audit event: seen here, or when a thread starts with it
            if getattr(self.threading, hook, None) is not None:
                self._note(f"called {call}() (a function that watches every new thread)")

    def _note(self, finding: str) -> None:
        if finding not in self.findings and len(self.findings) < MAX_FINDINGS:
            self.findings.append(finding)

    # the audit hook
    def _audit(self, event: str, args) -> None:
        if self._busy:
            return
        self._busy = True
        try:
            if event == "open":
                path, mode, flags = args
                if isinstance(path, int):
                    return
                writes = bool(set(mode or "") & set("wax+")) or bool((flags or 0) & (os.O_WRONLY | os.O_RDWR |
                                                                                       os.O_CREAT | os.O_APPEND))
                self._path(path, writes, "opened" if not writes else "wrote")
            elif event in WRITE_EVENTS or event in TOUCH_EVENTS:
                for index in WRITE_EVENTS.get(event) or TOUCH_EVENTS[event]:
                    if index < len(args) and isinstance(args[index], str | bytes | os.PathLike):
                        self._path(args[index], event in WRITE_EVENTS, f"{event}")
            elif event in ("gc.get_objects", "gc.get_referrers", "gc.get_referents"):
                self._note(f"called {event}() (looking through the interpreter's objects)")
            elif event == "ctypes.dlsym" and "Py" in str(args[-1] if args else ""):
                self._note("called into the interpreter through ctypes")
            elif event == "object.__setattr__" and args[1] in ("__code__", "__defaults__", "__kwdefaults__"):
                module = getattr(args[0], "__module__", "") or ""
                if module.split(".")[0] in ("course", "builtins", "math", "operator"):
                    self._note(f"replaced the {args[1]} of {module}.{getattr(args[0], '__name__', '?')}")
            elif event in ("sys.settrace", "sys.setprofile", "sys.addaudithook") and not (
                    event == "sys.setprofile" and self._course_profiler(sys._getframe(1))) and not (
                    event == "sys.settrace" and self._course_tracer(sys._getframe(1))):
                self._note(f"called {event}()")
        except Exception:  # noqa: BLE001 - an audit hook that raises would break the student's code
            pass
        finally:
            self._busy = False

    def _course_profiler(self, caller) -> bool:
        """Whether this ``sys.setprofile`` is a thread starting, during a test cell, with the course's own
        profile function (:func:`course.grading.checks.compare_digest_calls`): ``caller`` (the frame calling
        sys.setprofile) runs the original ``Thread._bootstrap_inner``, and the hook it installs is
        ``_count_compare_digest`` with its own code. Any other profiler, a trace function, or one set by a
        direct call (the student's code, even in a test, even around the course's helper) is a finding."""
        profiler = self.profiler
        return (self._testing and profiler is not None and caller is not None
                and caller.f_code is self.bootstrap_code
                and getattr(self.threading, "_profile_hook", None) is profiler
                and profiler.__code__ is self.profiler_code)

    def _course_tracer(self, caller) -> bool:
        """Whether this ``sys.settrace`` is the course's own line counter (:func:`course.grading.checks.
        count_lines`), during a test cell: ``caller`` runs the original ``_lines_enter`` or ``_lines_exit``, and
        the trace function it installs (its ``tracer`` argument) is the original ``_trace_call``. A student's
        function passed in its place, or any other caller, is a finding."""
        tracer = self.tracer
        return (self._testing and tracer is not None and caller is not None
                and caller.f_code in self.tracer_setters and caller.f_locals.get("tracer") is tracer)

    def _path(self, path, writes: bool, verb: str) -> None:
        path = os.fsdecode(path)
        if path in ("", ":memory:") or path.startswith("file:") and "mode=memory" in path:
            return
        full = os.path.realpath(path)
        if _under(full, [self.folder]):
            if os.path.basename(full).startswith("gradebook"):
                self._note(f"{verb} {full} (a gradebook)")
        elif os.path.basename(full).startswith("gradebook") or _under(full, self.forbidden):
            self._note(f"{verb} {full} (the grader's files)")
        elif writes and not _under(full, self.allowed):
            self._note(f"{verb} {full}, outside its folder")

    # the calls the executor makes
    def remember(self, names: list[str]) -> list[str]:
        """Note the objects the setup cell just bound to ``names``: the tests use them as they are now."""
        user = self.shell.user_ns
        for name in names:
            if name in user:
                self.remembered[name] = user[name]
        return self.findings

    def before_test(self) -> list[str]:
        """Note what changed since the setup, and put back what the tests use (silently, for every test); the
        next cell (the test) runs with its source kept out of reach (see the module docstring)."""
        self._compare()
        self._restore()
        self._hide_next_cell()
        return self.findings

    def after_test(self) -> list[str]:
        """After a test cell: nothing of its source or its frames left for the student's next cell."""
        self._testing = False
        shell = self.shell
        if shell is not None:
            vars(shell.compile).pop("cache", None)
            shell.last_execution_result = None
            if self._mode_before_test is not None:
                with _quiet_output():
                    shell.InteractiveTB.set_mode(self._mode_before_test)
                self._mode_before_test = None
        for name in [key for key, entry in list(linecache.cache.items())
                     if key not in self._cells_cached and len(entry) == 4 and entry[1] is None]:
            linecache.cache.pop(name, None)  # an IPython cell cached meanwhile (none should be)
        for name in ("last_type", "last_value", "last_traceback", "last_exc"):
            if hasattr(sys, name):
                delattr(sys, name)
        return self.findings

    def _hide_next_cell(self) -> None:
        """The next cell's source goes to IPython's compiler but not into ``linecache``; a trace or profile
        function the student set (already noted) does not watch it."""
        self._busy = True  # the guard's own calls are no finding
        try:
            sys.settrace(None)
            sys.setprofile(None)
        finally:
            self._busy = False
        shell = self.shell
        if shell is None:
            return
        self._testing = True
        if self.brief_tests and self._mode_before_test is None:
            # The test cell's traceback, if it fails, is IPython's shortest ("Name: message"): the grader keeps
            # no more of it (see SafeExecute.brief_test_tracebacks), and formatting one with its context and
            # colours took the kernel about 7 ms.
            self._mode_before_test = shell.InteractiveTB.mode
            with _quiet_output():
                shell.InteractiveTB.set_mode("Minimal")
        self._cells_cached = {key for key, entry in linecache.cache.items() if len(entry) == 4 and entry[1] is None}
        compiler, code_name = self.hooks["compiler"], self.hooks["code name"]

        def cache_without_source(transformed_code, number=0, raw_code=None):
            # What IPython's CachingCompiler.cache does, less the linecache entry (the guard's own copy of
            # the name function: a student's patch of the compiler class does not see the cell either).
            name = code_name(compiler, transformed_code if raw_code is None else raw_code, transformed_code, number)
            compiler._filename_map[name] = number
            return name

        compiler.cache = self._own_cache = cache_without_source

    def _pre_run_cell(self, info) -> None:
        """While a test cell runs, the kernel's copy of its request carries no code (code it calls could read it)."""
        if not self._testing:
            return
        kernel = getattr(self.shell, "kernel", None)
        parent = kernel.get_parent() if kernel is not None and hasattr(kernel, "get_parent") else None
        for message in (parent, getattr(self.shell, "parent_header", None)):
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, dict) and "code" in content:
                content["code"] = ""

    def _restore(self) -> None:
        for hook in THREAD_HOOKS:
            setattr(self.threading, hook, None)
        for name, module in self.modules.items():
            if module is not None and sys.modules.get(name) is not module:
                sys.modules[name] = module
        for module_name, saved in self.states.items():
            state = vars(self.modules[module_name])
            for name, value in saved.items():
                if state.get(name) is not value:
                    self._note(f"{module_name}.{name} was replaced at run time")
                    state[name] = value
        for name, (code, defaults, kwdefaults) in self.codes.items():
            function = self.checks_state[name]
            if (function.__code__, function.__defaults__, function.__kwdefaults__) != (code, defaults, kwdefaults):
                self._note(f"the code of course.grading.checks.{name} was replaced at run time")
                function.__code__, function.__defaults__, function.__kwdefaults__ = code, defaults, kwdefaults
        package = self.modules["course"]
        for name in CHECK_NAMES:
            if package is not None and name in vars(package) and vars(package)[name] is not self.checks_state[name]:
                self._note(f"course.{name} was replaced at run time")
                del vars(package)[name]
        self._restore_shell()
        user = self.shell.user_ns
        for name, value in self.remembered.items():
            if user.get(name) is not value:
                self._note(f"'{name}', which the tests use, was rebound by the student's code")
                user[name] = value

    def _restore_shell(self) -> None:
        """The IPython shell as it was: no AST or input transformer, exception handler, event callback or
        method override that the student's code added (a transformer could empty every test cell)."""
        shell, hooks = self.shell, self.hooks
        if shell is None or hooks is None:
            return
        shell.ast_transformers[:] = hooks["ast_transformers"]
        if shell.compile is not hooks["compiler"]:
            shell.compile = hooks["compiler"]
        vars(shell.compile).pop("cache", None)
        shell.input_transformers_post[:] = hooks["input_transformers_post"]
        for name, saved in hooks["input"].items():
            getattr(shell.input_transformer_manager, name)[:] = saved
        if shell.custom_exceptions != ():
            shell.set_custom_exc((), None)
        for name, callbacks in shell.events.callbacks.items():
            callbacks[:] = [c for c in callbacks if _library(c) or c in hooks["events"].get(name, [])]
        for name in SHELL_METHODS:
            if name in vars(shell) and name not in hooks["instance"]:
                delattr(shell, name)

    def report(self) -> list[str]:
        self._compare()
        return self.findings

    def call(self, method: str, *args) -> str:
        return json.dumps(getattr(self, method)(*args))

    def calls(self, *steps) -> str:
        """Several calls in one request (``steps``: ``[method, *args]`` each, made in order): the executor
        joins the calls between two cells into one round trip (:func:`guard_calls`)."""
        for method, *args in steps:
            getattr(self, method)(*args)
        return json.dumps(self.findings)


def _quiet_output():
    """``set_mode`` prints the new mode when it is not given one: nothing of the guard's reaches the output."""
    import contextlib
    import io

    return contextlib.redirect_stdout(io.StringIO())


def _library(obj) -> bool:
    """A callback registered by IPython, ipykernel or a plotting library (matplotlib's inline backend)."""
    module = getattr(obj, "__module__", None) or getattr(getattr(obj, "__func__", None), "__module__", "") or ""
    return module.split(".")[0] in ("IPython", "ipykernel", "matplotlib", "matplotlib_inline", "ipywidgets")


def _under(path: str, roots: list[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def _class_attr(cls, name: str):
    for klass in cls.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    return None


def install_code(source: str, nonce: str, folder: str, allowed: list[str], forbidden: list[str],
                 brief_tests: bool = False) -> str:
    """The hidden first cell: this module's ``source`` run in a private namespace with a private copy of the
    builtins, then :meth:`KernelGuard.install`. It leaves no name in the student's namespace. With
    ``brief_tests``, a test cell's traceback is IPython's shortest (its name and message)."""
    return ("(lambda ns: (exec(compile(ns.pop('source'), '<course-guard>', 'exec'), ns), "
            f"ns['KernelGuard'].install({nonce!r}, {folder!r}, {allowed!r}, {forbidden!r}, {brief_tests!r}))[1])"
            f"({{'__name__': 'course_guard', 'source': {source!r}, "
            "'__builtins__': __import__('builtins').__dict__.copy()})")


def guard_call(nonce: str, method: str, *args) -> str:
    """An expression calling the guard's ``method`` that looks up no name the student's code could rebind;
    its value is the findings so far, as a JSON string."""
    return (f"[k for k in ().__class__.__base__.__subclasses__() if k.__name__ == 'CourseGuard{nonce}'][0]"
            f".guard.call({method!r}, *{args!r})")


def guard_calls(nonce: str, steps: list[tuple]) -> str:
    """:func:`guard_call` for several calls made in order (``steps``: ``(method, *args)`` each)."""
    return (f"[k for k in ().__class__.__base__.__subclasses__() if k.__name__ == 'CourseGuard{nonce}'][0]"
            f".guard.calls(*{[list(step) for step in steps]!r})")


def parse_findings(reply_text: str) -> list[str] | None:
    """The findings a guard call returned (the ``text/plain`` repr of a JSON string), or None if unreadable."""
    try:
        value = json.loads(ast.literal_eval(reply_text))
    except Exception:  # noqa: BLE001 - anything unreadable is reported by the caller
        return None
    return [str(item) for item in value] if isinstance(value, list) else None
