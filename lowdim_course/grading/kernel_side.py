"""The grader's own cell, run in the student's kernel after the student's cells.

The grader's cell carries this file's text (and ``kernel_results``'s), runs it in a namespace of
its own (never through ``sys.modules`` or ``importlib``, which the notebook may have changed),
calls :func:`collect` and sends its JSON down the worker's pipe (``kernel_results.send``). For
every exercise of the lesson it finds the student's function in the notebook's namespace, calls
it on each hidden case, and sends back what the function *returned*, as plain data (numbers and
nested lists, never Python objects). Whether that is right is decided by the grader, in its own
process: nothing here knows the expected answers, so nothing the notebook does to this kernel
can make a wrong answer pass.

While the student's functions run, a profile hook watches for what an honest answer never does:
calling the course's own code (``lowdim_course``: the reference implementations), reading the
call stack, switching the hook off, starting processes. Each is reported, and the grader flags
the exercise.
"""

from __future__ import annotations

import functools
import gc
import os
import sys
import threading
import types

if __name__.startswith("lowdim_course."):  # imported, not run by the grader's cell (tests)
    from lowdim_course.grading.kernel_results import encode_outcome, json_text
# Run by the grader's cell, this file follows kernel_results.py in one namespace (worker.py).

# What an honest answer never calls: (module, name) of builtins, resolved when collecting.
_WATCHED_BUILTINS = {
    ("sys", "setprofile"): "switched off the grader's profile hook (sys.setprofile)",
    ("sys", "settrace"): "installed a trace function (sys.settrace)",
    ("sys", "_getframe"): "read the call stack (sys._getframe / inspect.stack)",
    ("os", "fork"): "started a process (os.fork)",
    ("os", "system"): "started a process (os.system)",
    ("os", "posix_spawn"): "started a process (os.posix_spawn)",
    ("os", "posix_spawnp"): "started a process (os.posix_spawnp)",
    ("os", "execv"): "replaced the process (os.execv)",
    ("os", "execve"): "replaced the process (os.execve)",
    ("_posixsubprocess", "fork_exec"): "started a process (subprocess)",
}
_DEFAULT_HOOK_MODULES = ("IPython", "ipykernel", "matplotlib", "matplotlib_inline", "ipywidgets")
# Where IPython compiles a ``%%time`` cell's code, and where ``_answer`` compiles a ``check``
# argument that is not a name (``lambda L: end_to_end(L)``): the notebook's own text, both.
_CELL_FILENAMES = ("<timed exec>", "<check argument>")
_MAX_WRAPPERS = 16  # decorators followed through __wrapped__ / partial.func


def collect(nonce: str, wanted: list, time_limit: float | None = None) -> str:
    """JSON text: ``{"nonce", "exercises": {id: record}, "flags": [...]}``.

    ``wanted`` lists ``[exercise_id, function_name]``. A record holds ``origin`` (where the
    function was defined), ``outcomes`` (one per case until the first that raised or ran over),
    ``core_calls`` and ``suspicious`` (what the watch saw), or ``missing`` / ``not_callable``.
    """
    from lowdim_course.exercises import calling, framework
    from lowdim_course.threads import small_work

    namespace = _user_namespace()
    answers = {exercise_id: _answer(namespace, name) for exercise_id, name in wanted}
    report = {"nonce": nonce, "exercises": {}, "flags": _hook_flags()}  # after any evaluation
    core_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cell_dir = _cell_directory()
    for exercise_id, name in wanted:
        record: dict = {"name": name}
        report["exercises"][exercise_id] = record
        function = answers[exercise_id]
        if function is None:
            record["missing"] = True
            continue
        if not callable(function):
            record["not_callable"] = type(function).__name__
            continue
        record["origin"] = _origin(function, core_dir, cell_dir)
        exercise = framework.REGISTRY.get(exercise_id)
        if exercise is None:
            record["missing_exercise"] = True
            continue
        seconds = exercise.time_limit if time_limit is None else time_limit
        allowed = set(getattr(exercise, "allowed_core_calls", ()))
        watch = _Watch(core_dir, cell_dir, _entry_points(calling), allowed)
        outcomes, answer = [], functools.partial(_call_answer, function)
        with small_work(), watch:  # one thread, as in the student's own check
            for case in exercise.make_cases():
                outcome = framework.call_with_time_limit(
                    answer, framework.fresh_copy(case.args), seconds
                )
                outcomes.append(encode_outcome(outcome))
                if outcome.timed_out or outcome.exception is not None:
                    break
        record["outcomes"] = outcomes
        record["core_calls"] = sorted(watch.core_calls)
        record["suspicious"] = sorted(watch.suspicious)
    return json_text(report)


def _call_answer(function, *args):
    """The frame that calls the answer: course code entered straight from here (through a C
    wrapper: ``partial``, ``lru_cache``) is the course's own function answering (``_Watch``)."""
    return function(*args)


def _answer(namespace: dict, name: str):
    """``namespace[name]``, or the expression that the ``check`` call passed (``lambda L:
    end_to_end(L)``, ``partial(f, ...)``) evaluated in the notebook (None if it raises)."""
    if name.isidentifier():
        return namespace.get(name)
    try:
        return eval(compile(name, "<check argument>", "eval"), namespace)
    except (Exception, SystemExit):
        return None


def _user_namespace() -> dict:
    shell = _shell()
    return shell.user_ns if shell is not None else {}


def _shell():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _cell_directory() -> str | None:
    """The folder ipykernel names the notebook's cells after (``/tmp/ipykernel_<pid>``)."""
    try:
        from ipykernel.compiler import get_tmp_directory
    except ImportError:
        return None
    return get_tmp_directory()


def _origin(function, core_dir: str, cell_dir: str | None) -> dict:
    """Where ``function`` comes from: ``{"kind": "cell" | "course" | "elsewhere", ...}``,
    looking through ``functools.partial`` and through wrappers that are neither the course's
    nor a cell's (``torch.no_grad()``, ``lru_cache``, a library's ``functools.wraps``) to the
    ``__wrapped__`` they really hold (``_holds``). The watch sees what a wrapper calls."""
    target = function
    for _ in range(_MAX_WRAPPERS):
        if type(target) is functools.partial:  # exactly: a subclass may redefine .func
            target = target.func
            continue
        kind = _code_origin(target, core_dir, cell_dir)
        inner = getattr(target, "__wrapped__", None) if kind["kind"] == "elsewhere" else None
        if inner is None or not _holds(target, inner):
            return kind
        target = inner
    return {"kind": "elsewhere", "what": "too many nested wrappers"}


def _holds(wrapper, inner) -> bool:
    """Whether ``wrapper`` really holds ``inner`` (a ``__wrapped__`` set by hand does not
    count): in its closure (a Python decorator), or among the objects a C wrapper references."""
    if not isinstance(wrapper, types.FunctionType):
        return any(referent is inner for referent in gc.get_referents(wrapper))
    cells = wrapper.__closure__ or ()  # a cell's referent is its contents (none when empty)
    return any(held is inner for cell in cells for held in gc.get_referents(cell))


def _code_origin(function, core_dir: str, cell_dir: str | None) -> dict:
    target = function
    if not isinstance(target, types.FunctionType):
        call = getattr(type(target), "__call__", None)  # noqa: B004 (a callable object)
        if not isinstance(call, types.FunctionType):
            return {"kind": "elsewhere", "what": type(function).__name__}
        target = call
    filename = os.path.abspath(target.__code__.co_filename)
    module = str(getattr(function, "__module__", "") or "")
    if module.startswith("lowdim_course") or filename.startswith(core_dir + os.sep):
        return {"kind": "course", "what": f"{module}.{getattr(function, '__qualname__', '?')}"}
    if (cell_dir and filename.startswith(cell_dir + os.sep)) or (
        target.__code__.co_filename in _CELL_FILENAMES
    ):
        return {"kind": "cell"}
    return {"kind": "elsewhere", "what": target.__code__.co_filename}


def _hook_flags() -> list[str]:
    """IPython hooks and transformers the notebook added (they run around the grader's cell)."""
    shell = _shell()
    if shell is None:
        return []
    flags = []
    events = getattr(shell, "events", None)
    for event, callbacks in (getattr(events, "callbacks", None) or {}).items():
        for callback in callbacks:
            module = str(getattr(callback, "__module__", "") or "")
            if not module.startswith(_DEFAULT_HOOK_MODULES):
                flags.append(f"the notebook registered an IPython '{event}' hook")
    for attribute in ("ast_transformers", "input_transformers_post"):
        if getattr(shell, attribute, None):
            flags.append(f"the notebook added IPython {attribute}")
    if sys.gettrace() is not None:
        flags.append("a trace function (sys.settrace) was installed")
    return sorted(set(flags))


def _entry_points(calling) -> set:
    """The code through which the course itself enters its own code while an answer runs: the
    time limits' signal handlers and thread target (nested in ``calling``'s callers)."""
    codes, stack = set(), []
    for name in ("_call_with_timers", "_call_in_thread"):
        function = getattr(calling, name, None)
        if isinstance(function, types.FunctionType):
            stack.append(function.__code__)
    while stack:
        for constant in stack.pop().co_consts:
            if isinstance(constant, types.CodeType):
                codes.add(constant)
                stack.append(constant)
    return codes


class _Watch:
    """A profile hook (this thread and new threads) that records every entry into the course's
    code from code that is not the course's (a notebook cell, an ``eval``, a library the answer
    called), and calls of the watched builtins."""

    def __init__(self, core_dir: str, cell_dir: str | None, entry_points=(), allowed=()):
        self.entry_points = set(entry_points)
        self.allowed = set(allowed)
        self.core_prefix = core_dir + os.sep
        self.here = os.path.abspath(__file__)
        self.answer_call = _call_answer.__code__
        self.cell_dir = cell_dir
        self.core_calls: set[str] = set()
        self.suspicious: set[str] = set()
        self.watched = {}
        self._getframe = getattr(sys, "_getframe", None)
        inspect_module = sys.modules.get("inspect")
        self.inspect_file = getattr(inspect_module, "__file__", None)
        for (module_name, name), what in _WATCHED_BUILTINS.items():
            module = sys.modules.get(module_name)
            if module is None and module_name == "_posixsubprocess":
                try:
                    import _posixsubprocess as module
                except ImportError:
                    module = None
            builtin = getattr(module, name, None) if module is not None else None
            if isinstance(builtin, types.BuiltinFunctionType):
                self.watched[id(builtin)] = what
            elif builtin is not None:
                self.suspicious.add(f"the notebook replaced {module_name}.{name}")

    def _notebook_or_inspect(self, code) -> bool:
        return self._from_notebook(code) or code.co_filename == self.inspect_file

    def _from_notebook(self, code) -> bool:
        """A cell, or code compiled from a string (``eval``, ``exec``), but not importlib's."""
        filename = code.co_filename
        if self.cell_dir is not None and filename.startswith(self.cell_dir):
            return True
        return filename.startswith("<") and not filename.startswith("<frozen")

    def hook(self, frame, event, arg):
        if event == "c_call":
            what = self.watched.get(id(arg))
            if what is None or frame.f_code.co_filename == self.here:
                return
            # Libraries may look at a frame for their own reasons (warnings, logging); the
            # notebook's code, directly or through ``inspect``, may not.
            if arg is not self._getframe or self._notebook_or_inspect(frame.f_code):
                self.suspicious.add(what)
        elif event == "call":
            code = frame.f_code
            filename = code.co_filename
            if (
                not filename.startswith(self.core_prefix)
                or filename == self.here
                or code in self.entry_points
            ):
                return
            caller = frame.f_back
            if (
                caller is None
                or caller.f_code is self.answer_call
                or not caller.f_code.co_filename.startswith(self.core_prefix)
            ):
                name = f"{frame.f_globals.get('__name__', 'lowdim_course')}.{code.co_name}"
                if name not in self.allowed:
                    self.core_calls.add(name)

    def __enter__(self):
        self._installed = self.hook  # one bound method, so that `is` can recognise it
        threading.setprofile(self._installed)
        sys.setprofile(self._installed)
        if sys.getprofile() is not self._installed:
            self.suspicious.add("the notebook replaced sys.setprofile or sys.getprofile")
        return self

    def __exit__(self, *exc):
        if sys.getprofile() is not self._installed:
            self.suspicious.add("the profile hook was switched off while the answer ran")
        sys.setprofile(None)
        threading.setprofile(None)
