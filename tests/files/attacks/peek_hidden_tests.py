"""Read the hidden tests of test cells that already ran, and print them: the shell's history (In, _ih, _i,
Out, the history database), linecache's cached cells, the last traceback's frames, the shell's last result,
the kernel's copy of the request; and, while the tests run, the caller's frame and source (inspect.stack())
seen from the student's own functions, which a post_run_cell callback wraps with a spy.
The part after the marker line runs in a later answer cell (after the first test cells)."""
import functools
import inspect
import linecache
import os
import sys

from IPython import get_ipython

seen = []


def _look(route, text):
    if text:
        seen.append((route, str(text)))


def _spy(function):
    @functools.wraps(function)
    def spied(*args, **kwargs):
        for frame in inspect.stack()[1:4]:
            _look("inspect.stack", "".join(frame.code_context or []))
            if not os.path.exists(frame.filename):  # a cell, not a library's file
                _look("caller source", "".join(linecache.getlines(frame.filename)))
                caller_frames.append(frame.frame)
        parent = get_ipython().kernel.get_parent() or {}
        _look("get_parent while testing", (parent.get("content") or {}).get("code"))
        return function(*args, **kwargs)
    spied.__spied__ = True
    return spied


caller_frames = []


def _wrap_answers(result=None):
    for name, value in list(get_ipython().user_ns.items()):
        if inspect.isfunction(value) and not name.startswith("_") and not getattr(value, "__spied__", False) \
                and value.__module__ == "__main__" and name not in ("spied",):
            get_ipython().user_ns[name] = _spy(value)


def _record_cell(info):
    _look("pre_run_cell", info.raw_cell)


def _record_lines(lines):
    _look("input transformer", "".join(lines))
    return lines


get_ipython().events.register("post_run_cell", _wrap_answers)
get_ipython().events.register("pre_run_cell", _record_cell)
get_ipython().input_transformers_cleanup.append(_record_lines)
print("ATTACK-RAN peek_hidden_tests (set up)")
# ---- in a later answer cell ----
shell = get_ipython()
for name in ("In", "_ih", "Out", "_oh", "_i", "_ii", "_iii"):
    _look(name, shell.user_ns.get(name))
_look("_iN", [value for key, value in shell.user_ns.items() if key.startswith("_i") and key[2:].isdigit()])
_look("input_hist_raw", shell.history_manager.input_hist_raw)
try:
    _look("history database", list(shell.history_manager.get_range(shell.history_manager.session_number, 0, None,
                                                                   raw=True)))
except Exception as error:  # noqa: BLE001
    print("DENIED history database", type(error).__name__)
_look("linecache", [entry[2] for key, entry in list(linecache.cache.items()) if len(entry) == 4 and entry[1] is None])
tb = getattr(sys, "last_traceback", None)
while tb is not None:
    if not os.path.exists(tb.tb_frame.f_code.co_filename):
        _look("last traceback", "".join(linecache.getlines(tb.tb_frame.f_code.co_filename)))
    tb = tb.tb_next
result = shell.last_execution_result
_look("last result", result and result.info.raw_cell)
_look("get_parent now", ((shell.kernel.get_parent() or {}).get("content") or {}).get("code"))
for frame in caller_frames:
    try:
        _look("inspect.getsource(frame)", inspect.getsource(frame))
    except (OSError, TypeError) as error:
        print("DENIED getsource", type(error).__name__)
    _look("frame's file", "".join(linecache.getlines(frame.f_code.co_filename)))
shown = set()  # each line once (nbgrader keeps 1000 lines of output): the student's own cells recur everywhere
for route, text in seen:
    for line in str(text).replace("\\n", "\n").splitlines():
        if line.strip() and line not in shown:
            shown.add(line)
            print("PEEK", route, "|", line)
print("ATTACK-RAN peek_hidden_tests", len(seen), "things seen")
