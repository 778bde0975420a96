"""A code cell as the static reading sees it: its code, its strings and its shell commands apart.

The static flags (``inspection.static_flags``) are about what the code *does*, so a pattern such
as ``inspect.stack`` is searched in the code with every string and comment blanked out: a
printout or a comment that says "solutions" or "rm -rf" is prose, not code. A few flags are
about strings by nature (a path into ``solutions/`` or ``/proc``, the grader's environment
variable) and are searched in the string literals one by one, and in the shell commands
(``!rm ...``, ``%%bash`` cells). IPython's own syntax is taken off first: a ``%%time`` cell's
body is Python; ``!`` lines and ``%`` line magics are shell commands.

Deletions are read from the syntax tree: a file removed by a literal path inside the working
directory (``os.remove("scratch.npy")``, ``Path("out") / "a.txt"``, or a name assigned once to
such a path) is the notebook's own business; any other deletion is flagged.
"""

from __future__ import annotations

import ast
import io
import os
import re
import shlex
import tokenize
from dataclasses import dataclass, field

# Cell magics whose body is the cell's Python code, and those whose body is a shell script.
_PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug"}
_SHELL_CELL_MAGICS = {"bash", "sh", "script", "system"}
_PYTHON_LINE_MAGICS = {"time", "timeit", "prun", "debug"}
_ASSIGNED_SHELL = re.compile(r"^(\s*[A-Za-z_][\w.,\s]*=\s*)[!%]")

_DELETERS = {"remove", "unlink", "rmdir", "removedirs", "rmtree"}  # os.*, shutil.*, Path.*
_PATH_MAKERS = {"Path", "PurePath", "PosixPath", "join"}  # pathlib.Path(...), os.path.join(...)


@dataclass
class CellText:
    code: str  # the Python code, strings replaced by "" and comments removed
    strings: list[str] = field(default_factory=list)  # every string literal's text
    shell: list[str] = field(default_factory=list)  # shell commands (! lines, %%bash, magics)
    tree: ast.Module | None = None  # None: not Python that parses (then ``code`` is the raw text)


def split_cell(source: str) -> CellText:
    """``source`` taken apart into code, strings and shell commands (see the module doc)."""
    lines = source.replace("\r\n", "\n").split("\n")  # as Python reads lines (no \x0c split)
    shell: list[str] = []
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        magic = lines[first].lstrip()[2:].split(maxsplit=1)
        name = magic[0] if magic else ""
        body = lines[first + 1 :]
        if name in _SHELL_CELL_MAGICS:
            return CellText(code="", shell=[*body, lines[first]])
        if name not in _PYTHON_CELL_MAGICS:
            shell.append(lines[first])  # its arguments (%%writefile PATH): like a shell line
        lines = body
    python = []
    for line in lines:
        stripped = line.lstrip()
        assigned = _ASSIGNED_SHELL.match(line)
        if stripped.startswith("!"):
            shell.append(stripped[1:])
            python.append("")
        elif stripped.startswith("%") and not stripped.startswith("%%"):
            words = stripped[1:].split(maxsplit=1)
            if words and words[0] in _PYTHON_LINE_MAGICS:
                indent = line[: len(line) - len(stripped)]
                python.append(indent + (words[1] if len(words) > 1 else ""))
            else:
                shell.append(stripped[1:])
                python.append("")
        elif assigned:
            shell.append(line[assigned.end() :])
            python.append(assigned.group(1) + "None")
        else:
            python.append(line)
    text = "\n".join(python) + "\n"
    try:
        code, strings = _blank_strings(text)
        tree = ast.parse(text)
    except (SyntaxError, tokenize.TokenError, ValueError):
        return CellText(code=text, strings=[text], shell=shell)
    return CellText(code=code, strings=strings, shell=shell, tree=tree)


def _blank_strings(text: str) -> tuple[str, list[str]]:
    """The code with each string literal replaced by ``""`` (an f-string by its fields'
    expressions) and comments removed, and the text of each literal."""
    starts = [0]
    for line in io.StringIO(text).readlines():  # the lines tokenize reads
        starts.append(starts[-1] + len(line))
    pieces, strings, position = [], [], 0
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type not in (tokenize.STRING, tokenize.COMMENT):
            continue
        begin = starts[token.start[0] - 1] + token.start[1]
        end = starts[token.end[0] - 1] + token.end[1]
        pieces.append(text[position:begin])
        position = end
        if token.type == tokenize.COMMENT:
            continue
        literal = ast.parse(token.string, mode="eval").body
        if isinstance(literal, ast.JoinedStr):  # f-string: its text parts, its fields as code
            parts = [v.value for v in literal.values if isinstance(v, ast.Constant)]
            strings.extend(str(part) for part in parts)
            fields = [v.value for v in literal.values if isinstance(v, ast.FormattedValue)]
            pieces.append('""' + "".join(f" ({ast.unparse(value)})" for value in fields))
        else:
            value = literal.value
            strings.append(value.decode("latin-1") if isinstance(value, bytes) else str(value))
            pieces.append('""')
    pieces.append(text[position:])
    return "".join(pieces), strings


# ---------------------------------------------------------------------------------------------
# What strings and shell commands say
# ---------------------------------------------------------------------------------------------


def names_solutions(text: str) -> bool:
    """A path into the course's ``solutions/``: a word of the string is a path with a
    ``solutions`` folder in it. A sentence that mentions the solutions is not a path, nor is the
    word alone (a label, a title: ``solutions_in_a_path`` reads where the code puts it)."""
    for word in re.split(r"[\s\"'`,;()\[\]{}=<>|]+", text):
        parts = re.split(r"[/\\]+", word)
        if len(parts) > 1 and "solutions" in parts:
            return True
    return False


# Calls whose string arguments are parts of a path.
_PATH_CALLS = {"join", "joinpath", "Path", "PurePath", "PosixPath", "open", "listdir", "scandir",
               "glob", "iglob", "walk", "chdir", "exists", "isdir", "isfile"}  # fmt: skip


def solutions_in_a_path(tree: ast.AST) -> bool:
    """The string ``"solutions"`` used as a part of a path: an argument of ``os.path.join``,
    ``Path``, ``open``, ``glob``... (also added to another string first) or a side of ``/``
    (``root / "solutions"``)."""
    parents = {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue
        if node.value.strip().strip("/\\") != "solutions":
            continue
        child, parent = node, parents.get(id(node))
        while isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Add):  # "../" + it
            child, parent = parent, parents.get(id(parent))
        if isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Div):
            return True
        if isinstance(parent, ast.Call) and child is not parent.func:
            function = parent.func
            name = function.attr if isinstance(function, ast.Attribute) else None
            name = name or (function.id if isinstance(function, ast.Name) else "")
            if name in _PATH_CALLS:
                return True
    return False


def shell_commands(line: str) -> list[list[str]]:
    """The commands of a shell line, each as its words (None-safe: unparseable -> [[line]])."""
    commands = []
    for part in re.split(r"&&|\|\||[;|&\n]", line):
        try:
            words = shlex.split(part, comments=True)
        except ValueError:
            words = part.split()
        while words and words[0] in ("sudo", "env", "command", "exec", "nohup"):
            words = words[1:]
        if words:
            commands.append(words)
    return commands


def inside_working_directory(path: str) -> bool:
    """``path`` names something strictly inside the working directory: relative, no ``..``,
    no home (``~``), no variable, and not the directory itself."""
    if not path or any(mark in path for mark in ("$", "`", "~")) or os.path.isabs(path):
        return False
    normal = os.path.normpath(path)
    return normal not in (".", "") and normal.split(os.sep)[0] != ".."


# ---------------------------------------------------------------------------------------------
# Deletions in Python code
# ---------------------------------------------------------------------------------------------


def literal_paths(trees) -> dict[str, str]:
    """Names bound exactly once in all the cells, by ``name = <a path the code spells out>``."""
    bindings: dict[str, list] = {}
    simple = set()  # the targets of ``name = value``
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name):
                    bindings.setdefault(target.id, []).append(node.value)
                    simple.add(id(target))
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
                if id(node) in simple:
                    continue
                bindings.setdefault(node.id, []).append(None)
            elif isinstance(node, ast.arg):
                bindings.setdefault(node.arg, []).append(None)
            elif isinstance(node, ast.alias):
                bindings.setdefault((node.asname or node.name).split(".")[0], []).append(None)
    known: dict[str, str] = {}
    for name, values in bindings.items():
        if len(values) == 1 and values[0] is not None:
            path = spelled_path(values[0], {})
            if path is not None:
                known[name] = path
    return known


def spelled_path(node, known: dict[str, str]) -> str | None:
    """The path ``node`` spells out (a literal, ``Path(...)``, ``a / b``, ``os.path.join``,
    ``.parent``, the working directory ``os.getcwd()`` as ``.``, a name in ``known``), or
    None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return known.get(node.id)
    if isinstance(node, ast.Attribute) and node.attr == "parent":  # a Path's folder
        inner = spelled_path(node.value, known)
        return None if inner is None else os.path.dirname(os.path.normpath(inner))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        left, right = spelled_path(node.left, known), spelled_path(node.right, known)
        return None if left is None or right is None else os.path.join(left, right)
    if isinstance(node, ast.Call) and not node.keywords:
        function = node.func
        name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
        if name in ("getcwd", "cwd") and not node.args:  # os.getcwd(), Path.cwd()
            return "."
        if name in _PATH_MAKERS and node.args:
            parts = [spelled_path(arg, known) for arg in node.args]
            return None if None in parts else os.path.join(*parts)
    return None


def unsafe_deletions(tree: ast.Module, known: dict[str, str]) -> list[str]:
    """Each deletion in ``tree`` whose target is not spelled out inside the working directory
    (``ast.unparse`` of the call): ``os.remove/unlink/rmdir/removedirs``, ``shutil.rmtree``
    (or those names imported bare), ``Path.unlink()`` and ``Path.rmdir()``."""
    found = []
    for node in ast.walk(tree):
        target = _deletion_target(node)
        if target is False:
            continue
        path = spelled_path(target, known) if target is not None else None
        if path is None or not inside_working_directory(path):
            found.append(ast.unparse(node)[:80])
    return found


def _deletion_target(node):
    """What the call ``node`` deletes (a node, None when it does not say), or False when it is
    not a deletion."""
    if not isinstance(node, ast.Call):
        return False
    function = node.func
    first = node.args[0] if node.args else None
    if first is None:
        first = next((k.value for k in node.keywords if k.arg in ("path", "src")), None)
    if isinstance(function, ast.Name):
        return first if function.id in ("unlink", "rmdir", "rmtree", "removedirs") else False
    if not isinstance(function, ast.Attribute) or function.attr not in _DELETERS:
        return False
    owner = function.value.id if isinstance(function.value, ast.Name) else None
    if owner in ("os", "shutil") or function.attr == "rmtree":
        return first
    if function.attr in ("unlink", "rmdir"):  # a Path's method: the path is the receiver
        return function.value if not node.args else first
    return False  # list.remove(x), set.remove(x), ...
