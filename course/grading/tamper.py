"""Catch a submission that switches its tests off: a static look at its answers, and a guard in its kernel.

Code in the grading kernel can always patch something, so grading never trusts it alone: the course's
executor (:class:`course.grading.preprocessors.SafeExecute`) restores the test helpers before every test
cell, the checks compare by type (:mod:`course.grading.checks`), and this module *detects* the attempt, so a
submission that tried is marked ``needs review`` with the reason, whatever score it got.

- :func:`static_findings` reads the student's cells (every code cell that is not a locked cell of the
  assignment's source) and names what no answer to these exercises needs: rebinding or patching the test
  helpers or the setup's names, ``course.*``, ``builtins``, ``sys.modules``, ``__import__``, ``exec`` and
  friends, ``gc``/``ctypes``/frame games, the IPython shell, an object that compares equal to anything, a
  path to the gradebook or outside the submission's folder.
- :class:`KernelGuard` runs *inside* the kernel. The executor sends this module's source into the kernel
  before the first cell (nothing of the student's has run yet) and executes it in a private namespace with a
  private copy of the builtins. The guard records what the tests rely on (the check helpers and the modules
  they use, the builtins, the IPython shell's methods, the names the setup cells bound), installs an audit
  hook (PEP 578: it cannot be removed) that notes files written outside the folder, the gradebook opened,
  ``gc``/``ctypes`` games; before each test cell it compares, notes what changed and puts the originals back.
  The parent reaches it without any name the student can shadow (:func:`guard_call`).

Everything here imports only the standard library at module level: the same source runs in the kernel.
"""

from __future__ import annotations

import ast
import json
import os
import sys

__all__ = ["CHECK_NAMES", "static_findings", "setup_names", "KernelGuard", "install_code", "guard_call",
           "REVIEW_KEY", "review_notes", "mark_for_review"]

CHECK_NAMES = ("check", "check_that", "check_raises", "CheckFailed")
REVIEW_KEY = "needs_review"  # under the autograded notebook's metadata["course"]
MAX_FINDINGS = 20

# Modules an answer to these exercises never needs to import; importing one is reported.
SUSPECT_MODULES = {"gc": "the garbage collector's object lists", "ctypes": "raw memory access (ctypes)",
                   "builtins": "the builtins module", "importlib": "the import machinery",
                   "nbgrader": "the grader", "IPython": "the IPython shell", "ipykernel": "the kernel",
                   "jupyter_client": "the kernel's messaging", "signal": "signal handlers (interrupts)",
                   "_testcapi": "CPython internals", "course.grading": "the course's grading code",
                   "course.platform": "the course's own tools", "course.classroom": "the classroom tools",
                   "subprocess": "other programs, which the guard cannot watch", "pty": "a pseudo-terminal"}
# os functions that run another program or process, which the guard in the kernel cannot watch.
OS_PROGRAMS = ("system", "popen", "fork", "forkpty", "execv", "execve", "execvp", "execl", "execlp", "spawnv",
               "spawnl", "spawnlp", "spawnvp", "posix_spawn", "posix_spawnp")
SUSPECT_CALLS = {"exec", "eval", "compile", "__import__", "globals", "breakpoint", "get_ipython"}
SUSPECT_ATTRIBUTES = {"__code__", "__globals__", "__builtins__", "__closure__", "__defaults__", "__kwdefaults__",
                      "__subclasses__", "__bases__", "f_globals", "f_locals", "f_back", "f_builtins",
                      "tb_frame", "gi_frame", "cr_frame", "ag_frame", "_getframe", "currentframe", "stack",
                      "getouterframes", "settrace", "setprofile", "addaudithook", "meta_path", "path_hooks",
                      "excepthook", "displayhook", "modules"}
FRAME_OWNERS = {"sys", "inspect", "traceback"}
PATCHABLE_ROOTS = {"course", "builtins", "sys", "math", "operator", "numbers", "reprlib", "json"}
SAFE_MAGICS = {"time", "timeit", "capture", "writefile", "matplotlib", "pip", "load_ext", "autoreload"}
SUSPECT_PATHS = ("gradebook", ".nbgrader", "nbgrader_config", "/submitted/", "/autograded/", "/exchange/",
                 "/solutions/", "../", "template.db", "course-autograde-", "course-grade-")
OUTSIDE_ROOTS = ("/home", "/root", "/etc", "/var", "/usr", "/opt", "/srv", "/proc", "/sys", "/mnt", "/srv",
                 "~/", "~")


# -- the static check ---------------------------------------------------------------------------------------

def _python_source(source: str) -> list[tuple[str, str]]:
    """The cell as Python (IPython syntax translated), and the bodies of ``%%writefile *.py`` cells."""
    if source.lstrip().startswith("%%writefile"):
        head, _, body = source.lstrip().partition("\n")
        return [("python", body)] if head.strip().endswith(".py") else [("text", body)]
    if "%" in source or "!" in source:
        try:
            from IPython.core.inputtransformer2 import TransformerManager

            return [("python", TransformerManager().transform_cell(source))]
        except Exception:  # noqa: BLE001 - IPython missing or confused: read it as plain Python
            pass
    return [("python", source)]


def setup_names(sources: list[str]) -> set[str]:
    """Names the trusted setup cells bind at top level (imports and plain assignments), and the check
    helpers' names: the tests use them."""
    names = set(CHECK_NAMES)
    for source in sources:
        for kind, text in _python_source(source):
            try:
                tree = ast.parse(text) if kind == "python" else None
            except SyntaxError:
                continue
            for node in (tree.body if tree else []):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    names.update((a.asname or a.name).split(".")[0] for a in node.names if a.name != "*")
                elif isinstance(node, ast.Assign):
                    for target in node.targets:
                        names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def bound_names(source: str) -> set[str]:
    """Every name a cell binds in the notebook's namespace (in loops and ``with`` blocks too; not inside
    functions, classes or comprehensions)."""
    names: set[str] = set()
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return names
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
            continue
        if isinstance(node, ast.Lambda | ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        todo.extend(ast.iter_child_nodes(node))
    return names


class _Reader(ast.NodeVisitor):
    """Walks one cell's syntax tree and notes every suspect construct, once each."""

    def __init__(self, where: str, protected: set[str]):
        self.where, self.protected, self.found = where, protected, []
        self.aliases: dict[str, str] = {}   # local name -> module it stands for (import x as y)
        self.depth = 0                      # > 0 inside a function or class body

    def note(self, what: str) -> None:
        line = f"{self.where} {what}"
        if line not in self.found:
            self.found.append(line)

    def root(self, node) -> str | None:
        """The module or protected name an expression starts from (``course.grading.checks._equal`` -> course)."""
        while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
            node = node.func if isinstance(node, ast.Call) else node.value
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        return None

    # names bound at top level
    def bind(self, name: str, how: str = "rebinds") -> None:
        if self.depth == 0 and name in self.protected:
            self.note(f"{how} '{name}', which the tests use")

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Store | ast.Del):
            self.bind(node.id, "rebinds" if isinstance(node.ctx, ast.Store) else "deletes")
        elif node.id in ("__builtins__", "__import__") or (node.id in SUSPECT_CALLS and not self._calling):
            self.note(f"uses {node.id}")

    def visit_Global(self, node):
        for name in node.names:
            if name in self.protected:
                self.note(f"rebinds '{name}' (global), which the tests use")

    def _scope(self, node, name: str | None):
        if name is not None:
            self.bind(name)
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    def visit_FunctionDef(self, node):
        self._scope(node, node.name)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        self._scope(node, None)

    def visit_ClassDef(self, node):
        builtin_base = any(isinstance(b, ast.Name) and b.id in ("int", "str", "float", "bool", "dict", "list",
                                                                 "tuple", "bytes", "set") for b in node.bases)
        for item in node.body:
            name, value = None, None
            if isinstance(item, ast.FunctionDef) and item.name in ("__eq__", "__ne__", "__bool__"):
                body = [s for s in item.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
                name = item.name
                value = body[0].value if len(body) == 1 and isinstance(body[0], ast.Return) else None
            elif isinstance(item, ast.Assign) and isinstance(item.value, ast.Lambda):
                names = [t.id for t in item.targets if isinstance(t, ast.Name)]
                name = next((n for n in names if n in ("__eq__", "__ne__", "__bool__")), None)
                value = item.value.body
            if name and isinstance(value, ast.Constant):
                self.note(f"defines class {node.name} whose {name} always returns {value.value!r} "
                          "(an object that compares equal to anything)")
            elif name in ("__eq__", "__ne__") and builtin_base:
                self.note(f"defines class {node.name}, a subclass of a built-in type with its own {name}")
        self._scope(node, node.name)

    def visit_Import(self, node):
        for alias in node.names:
            self._imported(alias.name)
            local = alias.asname or alias.name.split(".")[0]
            self.aliases[local] = alias.name if alias.asname else alias.name.split(".")[0]
            self.bind(local)

    def visit_ImportFrom(self, node):
        module = node.module or ""
        self._imported(module)
        for alias in node.names:
            full = f"{module}.{alias.name}"
            self._imported(full)
            if module == "os" and alias.name in OS_PROGRAMS:
                self.note(f"uses os.{alias.name} (another program or process, which the guard cannot watch)")
            local = alias.asname or alias.name
            if alias.name in CHECK_NAMES and module in ("course", "course.grading.checks"):
                continue  # the same helpers the setup imports: harmless
            self.aliases[local] = full
            if alias.name == "*":
                self.note(f"imports * from {module}")
            else:
                self.bind(local)

    def _imported(self, module: str) -> None:
        for suspect, what in SUSPECT_MODULES.items():
            if module == suspect or module.startswith(suspect + "."):
                self.note(f"imports {module} ({what})")

    def _store(self, target) -> None:
        """An attribute or item assigned or deleted: suspect when it belongs to a module or a test name."""
        if isinstance(target, ast.Attribute | ast.Subscript):
            base = self.root(target)
            if base and (base in self.protected or base.split(".")[0] in PATCHABLE_ROOTS):
                self.note(f"changes {ast.unparse(target)} (patching {base.split('.')[0]})")
            if isinstance(target, ast.Attribute) and target.attr in ("__class__", "__dict__", "__code__", "__eq__"):
                self.note(f"assigns {ast.unparse(target)}")

    def visit_Assign(self, node):
        for target in node.targets:
            for element in ast.walk(target):
                self._store(element)
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._store(node.target)
        self.generic_visit(node)

    visit_AnnAssign = visit_AugAssign

    def visit_Delete(self, node):
        for target in node.targets:
            self._store(target)
        self.generic_visit(node)

    def visit_Attribute(self, node):
        if node.attr in OS_PROGRAMS and self.root(node) == "os":
            self.note(f"uses os.{node.attr} (another program or process, which the guard cannot watch)")
        if node.attr in SUSPECT_ATTRIBUTES:
            base = self.root(node)
            if node.attr not in ("modules", "stack", "excepthook", "displayhook", "meta_path") or \
                    (base or "").split(".")[0] in FRAME_OWNERS:
                self.note(f"uses {ast.unparse(node)}")
        self.generic_visit(node)

    _calling = False

    def visit_Call(self, node):
        func = node.func
        if isinstance(func, ast.Name):
            if func.id in SUSPECT_CALLS:
                self.note(f"calls {func.id}()")
                self._calling = True
                self.visit(func)
                self._calling = False
                for child in [*node.args, *node.keywords]:
                    self.visit(child)
                return
            elif func.id in ("setattr", "delattr") and node.args:
                base = self.root(node.args[0])
                if base and (base in self.protected or base.split(".")[0] in PATCHABLE_ROOTS):
                    self.note(f"calls {func.id}() on {ast.unparse(node.args[0])}")
            elif func.id in ("getattr", "setattr", "delattr", "hasattr") and len(node.args) > 1 and \
                    isinstance(node.args[1], ast.Constant) and str(node.args[1].value).startswith("__"):
                self.note(f"calls {func.id}() for {node.args[1].value!r}")
            elif func.id == "vars" and node.args and self.root(node.args[0]) in PATCHABLE_ROOTS:
                self.note(f"uses vars({ast.unparse(node.args[0])})")
        self._magic(node)
        self.generic_visit(node)

    def _magic(self, node) -> None:
        """``get_ipython().run_line_magic('run', ...)`` and friends, as IPython translates ``%``/``!`` lines."""
        func = node.func
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call)
                and isinstance(func.value.func, ast.Name) and func.value.func.id == "get_ipython"):
            return
        if func.attr not in ("run_line_magic", "run_cell_magic", "system", "getoutput"):
            return
        func.value.func.id = "_course_magic"  # the translation's own get_ipython() is not the student's
        if func.attr in ("run_line_magic", "run_cell_magic") and node.args and isinstance(node.args[0], ast.Constant):
            name = node.args[0].value
            if name not in SAFE_MAGICS:
                self.note(f"runs the IPython magic %{name}")
            if name == "writefile" and len(node.args) > 1 and isinstance(node.args[1], ast.Constant):
                self._path(str(node.args[1].value))
        elif func.attr in ("system", "getoutput"):
            self.note("runs a shell command (!)")

    def visit_Constant(self, node):
        if isinstance(node.value, str):
            self._path(node.value)

    def _path(self, text: str) -> None:
        lowered = text.lower()
        if any(marker in lowered for marker in SUSPECT_PATHS) or lowered in ("..", "~") or \
                any(lowered == root or lowered.startswith(root + "/") for root in OUTSIDE_ROOTS if root != "~"):
            self.note(f"names the path {text[:60]!r} (outside its folder, or the grader's files)")


def _trusted(cell, source_cells: dict[str, str]) -> bool:
    """A locked cell of the assignment, unchanged: the course's own code (setup, tests)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    grade_id = meta.get("grade_id")
    return (bool(meta.get("locked")) or (meta.get("grade") and not meta.get("solution"))) and \
        grade_id in source_cells and source_cells[grade_id].strip() == cell.get("source", "").strip()


def static_findings(nb, source_cells: dict[str, str]) -> list[str]:
    """What the student's cells of notebook ``nb`` do that no answer needs, one line each.

    ``source_cells`` maps grade_id to source for the locked cells of the assignment (from the gradebook):
    those are trusted; every other code cell, answer or added by the student, is read."""
    trusted = [c for c in nb.cells if c.get("cell_type") == "code" and _trusted(c, source_cells)]
    protected = setup_names([c.source for c in trusted if not _is_test(c)])
    found: list[str] = []
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code" or cell in trusted:
            continue
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        where = f"answer cell '{grade_id}'" if grade_id else f"cell {index + 1} (added by the student)"
        for kind, text in _python_source(cell.get("source", "")):
            if kind != "python":
                continue
            try:
                tree = ast.parse(text)
            except SyntaxError:
                continue  # it fails when it runs, and scores what it scores
            reader = _Reader(where, protected)
            reader.visit(tree)
            found.extend(f for f in reader.found if f not in found)
    return found[:MAX_FINDINGS]


def _is_test(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


# -- the guard in the kernel -------------------------------------------------------------------------------

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
NOISY_BUILTINS = {"input", "raw_input", "getpass", "_", "__", "___", "display", "get_ipython", "exit", "quit",
                  "__IPYTHON__", "copyright", "credits", "license", "help"}


class KernelGuard:
    """Runs in the grading kernel; see the module docstring. Every public method returns the findings so far."""

    def __init__(self, folder: str, allowed: list[str], forbidden: list[str]):
        self.folder = os.path.realpath(folder)
        self.allowed = [os.path.realpath(p) for p in [folder, *allowed]]
        self.forbidden = [os.path.realpath(p) for p in forbidden]
        self.findings: list[str] = []
        self.remembered: dict[str, object] = {}
        self._busy = False

    @classmethod
    def install(cls, nonce: str, folder: str, allowed: list[str], forbidden: list[str]) -> list[str]:
        import builtins

        guard = cls(folder, allowed, forbidden)
        guard.shell = getattr(builtins, "get_ipython", lambda: None)()
        import course.grading.checks as checks  # noqa: F401 - loaded now, before any student code

        guard.baseline = guard._snapshot()
        guard.modules = {name: sys.modules.get(name) for name in WATCHED_MODULES}
        guard.states = {name: {key: value for key, value in vars(module).items()
                               if callable(value) and not (name == "builtins" and key in NOISY_BUILTINS)}
                        for name, module in guard.modules.items() if module is not None}
        guard.checks_state = guard.states["course.grading.checks"]
        shell = guard.shell
        guard.hooks = None if shell is None else {
            "ast_transformers": list(shell.ast_transformers),
            "input_transformers_post": list(shell.input_transformers_post),
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
                                   "events": sorted(id(c) for cs in self.shell.events.callbacks.values() for c in cs
                                                    if not _library(c))}
        return shot

    def _compare(self) -> None:
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
            elif event in ("sys.settrace", "sys.setprofile", "sys.addaudithook"):
                self._note(f"called {event}()")
        except Exception:  # noqa: BLE001 - an audit hook that raises would break the student's code
            pass
        finally:
            self._busy = False

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
        """Note what changed since the setup, and put back what the tests use (silently, for every test)."""
        self._compare()
        self._restore()
        return self.findings

    def _restore(self) -> None:
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
        shell.input_transformers_post[:] = hooks["input_transformers_post"]
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


def install_code(source: str, nonce: str, folder: str, allowed: list[str], forbidden: list[str]) -> str:
    """The hidden first cell: this module's ``source`` run in a private namespace with a private copy of the
    builtins, then :meth:`KernelGuard.install`. It leaves no name in the student's namespace."""
    return ("(lambda ns: (exec(compile(ns.pop('source'), '<course-guard>', 'exec'), ns), "
            f"ns['KernelGuard'].install({nonce!r}, {folder!r}, {allowed!r}, {forbidden!r}))[1])"
            f"({{'__name__': 'course_guard', 'source': {source!r}, "
            "'__builtins__': __import__('builtins').__dict__.copy()})")


def guard_call(nonce: str, method: str, *args) -> str:
    """An expression calling the guard's ``method`` that looks up no name the student's code could rebind;
    its value is the findings so far, as a JSON string."""
    return (f"[k for k in ().__class__.__base__.__subclasses__() if k.__name__ == 'CourseGuard{nonce}'][0]"
            f".guard.call({method!r}, *{args!r})")


def parse_findings(reply_text: str) -> list[str] | None:
    """The findings a guard call returned (the ``text/plain`` repr of a JSON string), or None if unreadable."""
    try:
        value = json.loads(ast.literal_eval(reply_text))
    except Exception:  # noqa: BLE001 - anything unreadable is reported by the caller
        return None
    return [str(item) for item in value] if isinstance(value, list) else None


# -- where the verdict is kept -----------------------------------------------------------------------------

def mark_for_review(nb, findings: list[str]) -> None:
    """Keep ``findings`` in the autograded notebook's metadata, where grading and the export read them."""
    if findings:
        nb.metadata.setdefault("course", {})[REVIEW_KEY] = list(findings)


def review_notes(notebook_path) -> list[str]:
    """The reasons an autograded notebook needs review (empty when it does not, or cannot be read)."""
    try:
        with open(notebook_path, encoding="utf-8") as file:
            meta = json.load(file).get("metadata", {})
    except (OSError, ValueError):
        return []
    notes = (meta.get("course") or {}).get(REVIEW_KEY) or []
    return [str(note) for note in notes] if isinstance(notes, list) else []
