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
- :mod:`course.grading.guard` runs *inside* the kernel: it restores the helpers before each test and
  reports what was changed at run time.
"""

from __future__ import annotations

import ast
import json

from course.grading.guard import CHECK_NAMES, MAX_FINDINGS

__all__ = ["CHECK_NAMES", "static_findings", "setup_names", "setup_imports", "bound_names", "REVIEW_KEY", "review_notes",
           "mark_for_review"]

REVIEW_KEY = "needs_review"  # under the autograded notebook's metadata["course"]

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


def _top_level(sources: list[str]):
    """The top-level statements of the Python parts of ``sources`` (a part that does not parse is skipped)."""
    for source in sources:
        for kind, text in _python_source(source):
            if kind != "python":
                continue
            try:
                yield from ast.parse(text).body
            except SyntaxError:
                continue


def setup_names(sources: list[str]) -> set[str]:
    """Names the trusted setup cells bind at top level (imports and plain assignments), and the check
    helpers' names: the tests use them."""
    names = set(CHECK_NAMES)
    for node in _top_level(sources):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names if a.name != "*")
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def setup_imports(sources: list[str]) -> dict[str, str]:
    """``{name: what it was imported as}`` for the names the trusted setup cells bind by a plain import
    (``import time`` -> ``{"time": "time"}``, ``from pathlib import Path`` -> ``{"Path": "pathlib.Path"}``): an
    answer that imports the same thing under the same name binds the same object again (both go through
    ``sys.modules``, and patching that is a finding of its own), so it is not a rebinding."""
    origins: dict[str, str] = {}
    for node in _top_level(sources):
        if isinstance(node, ast.Import):
            origins.update((a.name, a.name) for a in node.names if a.asname is None and "." not in a.name)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            origins.update((a.name, f"{node.module}.{a.name}") for a in node.names
                           if a.asname is None and a.name != "*")
    return origins


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

    def __init__(self, where: str, protected: set[str], origins: dict[str, str] | None = None):
        self.where, self.protected, self.found = where, protected, []
        self.origins = origins or {}        # protected name -> what the setup imported it as (setup_imports)
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
            if alias.asname is None and self.origins.get(local) == local:
                continue  # `import time` again, as the setup did: the same module, not a rebinding
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
            if alias.asname is None and not node.level and self.origins.get(local) == full:
                continue  # the same name from the same module as the setup: the same object again
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
    setup = [c.source for c in trusted if not _is_test(c)]
    protected, origins = setup_names(setup), setup_imports(setup)
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
            reader = _Reader(where, protected, origins)
            reader.visit(tree)
            found.extend(f for f in reader.found if f not in found)
    return found[:MAX_FINDINGS]


def _is_test(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


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
