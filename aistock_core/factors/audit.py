"""Static audit of RD-Agent factor code before anything runs it (rdagent.md §7 REQ-SEC-P3-005, §8).

RD-Agent factor code is written by an LLM and reaches us as plain source. Before it is executed (and even then
only inside `aistock_core.factors.sandbox`), its syntax tree is checked for what a factor never needs and an
attacker or a confused model would use: process/network/filesystem modules, dynamic code (``eval``/``exec``),
introspection escapes (``__subclasses__``, ``__globals__``), writes to anything but ``result.h5``, look-ahead
(``shift(-1)``) and ML libraries (a factor is a formula over bars, not a model). The audit is deliberately
conservative: a legitimate factor that trips it is rewritten, not waved through. It is a friendly first filter
that says what to change, not the security boundary: Python is too dynamic for a syntax check to be complete,
so accepted code still runs only inside the OS sandbox (`aistock_core.untrusted`).
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass, field
from typing import Literal

from aistock_core.errors import FactorError

#: Modules a factor never imports: process, filesystem, network, interpreter internals, serialisation.
BANNED_MODULES = frozenset({
    "os", "posix", "nt", "subprocess", "shutil", "socket", "ssl", "sys", "importlib", "ctypes", "cffi",
    "pickle", "cPickle", "dill", "cloudpickle", "marshal", "shelve", "joblib", "multiprocessing", "threading",
    "_thread", "concurrent", "asyncio", "signal", "pty", "fcntl", "resource", "mmap", "gc", "inspect",
    "builtins", "__builtin__", "code", "codeop", "runpy", "pkgutil", "zipimport", "tempfile", "glob",
    "urllib", "http", "ftplib", "smtplib", "telnetlib", "xmlrpc", "requests", "httpx", "aiohttp", "webbrowser",
    # native writers and readers that never pass through Python's open(): databases, archives, raw files
    "sqlite3", "dbm", "pyarrow", "h5py", "tables", "zipfile", "tarfile", "gzip", "bz2", "lzma", "select",
    "selectors", "platform",
})
#: Private (C) modules such as ``_posixsubprocess``, ``_socket``, ``_pickle``, ``_posixshmem`` are banned as a
#: class: any module whose name starts with an underscore, except this one.
ALLOWED_PRIVATE = frozenset({"__future__"})
#: ML libraries: banned by rdagent.md §8 ("no ML libraries in factor code").
ML_MODULES = frozenset({
    "sklearn", "torch", "tensorflow", "keras", "lightgbm", "xgboost", "catboost", "jax", "mxnet", "paddle",
    "transformers", "statsmodels",
})
#: Builtins that turn data into code or reach the interpreter's internals.
BANNED_CALLS = frozenset({
    "eval", "exec", "compile", "__import__", "globals", "locals", "vars", "breakpoint", "input", "help",
    "memoryview",
})
#: Attributes used to climb out of any restriction (``().__class__.__bases__[0].__subclasses__()``).
BANNED_ATTRS = frozenset({
    "__dict__", "__subclasses__", "__globals__", "__builtins__", "__code__", "__closure__", "__bases__", "__base__",
    "__mro__", "__getattribute__", "__import__", "__loader__", "__spec__", "__reduce__", "__reduce_ex__",
    "f_globals", "f_locals", "f_back", "gi_frame", "tb_frame", "co_code",
})
#: Methods that write a file when given a path. Only ``result.h5`` may be written.
WRITER_METHODS = frozenset({
    "to_csv", "to_hdf", "to_parquet", "to_pickle", "to_feather", "to_excel", "to_json", "to_sql", "to_stata",
    "to_orc", "to_xml", "to_html", "to_latex", "to_markdown", "to_string", "to_clipboard", "tofile", "save",
    "savez", "savez_compressed", "savetxt", "write_text", "write_bytes", "touch", "unlink", "rmdir", "mkdir",
    "chmod", "symlink_to", "hardlink_to",
})
#: Writers that return a string when called without a path (``df.to_csv()``) are harmless without one.
RETURNS_TEXT_WITHOUT_PATH = frozenset({
    "to_csv", "to_json", "to_html", "to_latex", "to_markdown", "to_string", "to_xml",
})
#: Path-taking keyword names across pandas/numpy/pathlib writers.
PATH_KEYWORDS = ("path_or_buf", "path", "excel_writer", "fname", "file", "buf", "name", "con", "target")
#: Methods whose negative ``periods`` reads the future (rdagent.md §8 bans ``shift(-1)``).
LOOKAHEAD_METHODS = frozenset({"shift", "diff", "pct_change"})
RESULT_FILE = "result.h5"

FactorStyle = Literal["script", "function", "class"]


@dataclass(frozen=True)
class Finding:
    """One reason to reject: where (1-based line, 0-based column), a rule id, and a sentence for a human."""

    line: int
    col: int
    rule: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}, col {self.col}: [{self.rule}] {self.reason}"


@dataclass(frozen=True)
class AuditReport:
    """The verdict on one factor file plus what the sandbox needs to call it.

    ``style`` follows rdagent.md §7: ``class`` when a ``factor_<name>(df)`` wrapper (or a class with
    ``fit_transform``/``compute``) exists, ``function`` for the raw LLM ``calculate_<name>()`` (no parameters,
    reads ``daily_pv.h5``, writes ``result.h5``), else ``script`` (module-level code writing ``result.h5``).
    """

    filename: str
    sha256: str
    findings: tuple[Finding, ...]
    style: FactorStyle
    entry: str | None
    factor_name: str | None
    classes: tuple[str, ...] = field(default=())

    @property
    def accepted(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        if self.accepted:
            return f"{self.filename}: accepted ({self.style} style, entry {self.entry or '<module>'})"
        lines = "\n  ".join(str(f) for f in self.findings)
        return f"{self.filename}: rejected, {len(self.findings)} finding(s):\n  {lines}"

    def raise_if_rejected(self) -> AuditReport:
        """FactorError listing every finding when the code is rejected; the report itself otherwise."""
        if not self.accepted:
            raise FactorError(
                f"factor code {self.summary()}\nRemove these constructs (factor code may only read daily_pv.h5, "
                f"compute with pandas/numpy, and write {RESULT_FILE}) and audit again."
            )
        return self


def _root(module: str | None) -> str:
    return (module or "").split(".")[0]


def _const_str(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _is_negative(node: ast.AST) -> bool:
    """A literal negative number or a negated expression (``-k``, ``-window``): both read the future."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return not (isinstance(node.operand, ast.Constant) and node.operand.value == 0)
    return isinstance(node, ast.Constant) and isinstance(node.value, int | float) and node.value < 0


def _call_name(func: ast.AST) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


#: Builtins that read or change attributes by a name computed at run time.
ATTR_BUILTINS = frozenset({"getattr", "setattr", "delattr"})


class _Auditor(ast.NodeVisitor):
    def __init__(self, allow_ml: bool = False, extra_banned_attrs: frozenset[str] = frozenset()) -> None:
        self.findings: list[Finding] = []
        self._allow_ml = allow_ml
        self._banned_attrs = BANNED_ATTRS | extra_banned_attrs
        self._called: set[int] = set()  # Name nodes that are the callee of a call (checked in visit_Call)

    def _flag(self, node: ast.AST, rule: str, reason: str) -> None:
        self.findings.append(Finding(getattr(node, "lineno", 0), getattr(node, "col_offset", 0), rule, reason))

    def _check_module(self, node: ast.AST, module: str | None) -> None:
        root = _root(module)
        if root.startswith("_") and root not in ALLOWED_PRIVATE:
            self._flag(node, "banned-import", f"imports {module!r}: private interpreter modules are not allowed in "
                                              "factor code")
        elif root in BANNED_MODULES:
            self._flag(node, "banned-import", f"imports {module!r}: process/filesystem/network/interpreter "
                                              "modules are not allowed in factor code")
        elif root in ML_MODULES and not self._allow_ml:
            self._flag(node, "ml-library", f"imports {module!r}: factor code must not use ML libraries (rdagent.md §8)")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_module(node, alias.name)
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            self._flag(node, "relative-import", "relative imports reach outside the factor file")
        self._check_module(node, node.module)
        for alias in node.names:  # `from pandas import io` is fine; `from x import os` is not
            if alias.name in BANNED_MODULES:
                self._check_module(node, alias.name)
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in {"__builtins__", "__loader__", "__spec__"}:
            self._flag(node, "introspection", f"uses {node.id}: reaching the interpreter's internals")
        elif node.id in BANNED_CALLS | ATTR_BUILTINS and id(node) not in self._called:
            # `e = exec; e(...)`: an alias hides the call from every other rule
            self._flag(node, "dynamic-code", f"refers to {node.id} without calling it: aliases of dynamic-code "
                                             "and attribute builtins are not allowed")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in self._banned_attrs:
            self._flag(node, "introspection", f"attribute {node.attr!r} is an escape hatch from any restriction")
        elif node.attr in BANNED_MODULES and isinstance(node.ctx, ast.Load):
            # `pd.io.common.os.system(...)`: a banned module reached through a library's namespace.
            self._flag(node, "banned-module-attr", f"attribute {node.attr!r} reaches a banned module through "
                                                   "another library")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = _call_name(node.func)
        if isinstance(node.func, ast.Name):
            self._called.add(id(node.func))
        if isinstance(node.func, ast.Name) and name in BANNED_CALLS:
            self._flag(node, "dynamic-code", f"calls {name}(): dynamic code and namespace access are not allowed")
        if isinstance(node.func, ast.Name) and name in ATTR_BUILTINS | {"hasattr"}:
            self._check_getattr(node, name)
        if name == "open" and isinstance(node.func, ast.Name | ast.Attribute):
            self._check_open(node)
        if isinstance(node.func, ast.Attribute) and name in WRITER_METHODS:
            self._check_writer(node, name)
        if isinstance(node.func, ast.Attribute) and name in LOOKAHEAD_METHODS:
            periods = node.args[0] if node.args else next(
                (k.value for k in node.keywords if k.arg == "periods"), None)
            if periods is not None and _is_negative(periods):
                self._flag(node, "look-ahead", f"{name}() with negative periods reads future rows (rdagent.md §8 "
                                               "bans shift(-k)); use a non-negative lag")
        self.generic_visit(node)

    def _check_getattr(self, node: ast.Call, name: str) -> None:
        target = node.args[0] if node.args else None
        attr_node = node.args[1] if len(node.args) > 1 else None
        attr = _const_str(attr_node)
        if isinstance(target, ast.Name) and target.id in {"__builtins__", "builtins"}:
            self._flag(node, "introspection", f"{name}() on {target.id} reaches arbitrary builtins")
        elif attr is not None and (attr.startswith("_") or attr in BANNED_MODULES | BANNED_CALLS | BANNED_ATTRS):
            self._flag(node, "introspection", f"{name}(..., {attr!r}) reaches a forbidden attribute")
        elif attr is None and name in ATTR_BUILTINS:
            self._flag(node, "introspection", f"{name}() with a computed attribute name cannot be verified; "
                                              "write the attribute out")

    def _check_open(self, node: ast.Call) -> None:
        if any(k.arg in {"flags", "opener"} or k.arg is None for k in node.keywords):
            self._flag(node, "file-write", "open() with flags, an opener or **kwargs cannot be verified as "
                                           "read-only")
            return
        # builtin open(file, mode); a method such as Path(p).open(mode) takes the mode first
        position = 1 if isinstance(node.func, ast.Name) else 0
        mode_node = node.args[position] if len(node.args) > position else next(
            (k.value for k in node.keywords if k.arg == "mode"), None)
        if mode_node is None:
            return  # read-only text mode
        mode = _const_str(mode_node)
        if mode is None:
            self._flag(node, "file-write", "open() with a computed mode cannot be verified as read-only")
            return
        if set(mode) & set("wax+"):
            path = None if position == 0 else _const_str(node.args[0]) if node.args else _const_str(
                next((k.value for k in node.keywords if k.arg == "file"), None))
            if path != RESULT_FILE:
                self._flag(node, "file-write", f"open(..., {mode!r}) writes a file; only {RESULT_FILE!r} may be "
                                               "written")

    def _check_writer(self, node: ast.Call, name: str) -> None:
        path_node = node.args[0] if node.args else next(
            (k.value for k in node.keywords if k.arg in PATH_KEYWORDS), None)
        if path_node is None:
            if name in RETURNS_TEXT_WITHOUT_PATH:
                return
            if name in {"touch", "unlink", "rmdir", "mkdir", "write_text", "write_bytes", "chmod"}:
                self._flag(node, "file-write", f".{name}() changes the filesystem; only {RESULT_FILE!r} may be "
                                               "written")
            return
        if name == "to_hdf" and _const_str(path_node) == RESULT_FILE:
            return
        self._flag(node, "file-write", f".{name}({ast.unparse(path_node)}, ...) writes outside the factor "
                                       f"output; only .to_hdf({RESULT_FILE!r}, ...) is allowed")


def _entrypoints(tree: ast.Module) -> tuple[FactorStyle, str | None, str | None, tuple[str, ...]]:
    """Which of the three rdagent.md §7 styles the module follows, its entry point and the factor name it implies."""
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    classes = tuple(
        n.name for n in tree.body if isinstance(n, ast.ClassDef)
        and any(isinstance(b, ast.FunctionDef) and b.name in {"fit_transform", "compute"} for b in n.body)
    )
    wrappers = [f for f in functions if f.startswith("factor_")]
    if wrappers:
        return "class", wrappers[0], wrappers[0].removeprefix("factor_"), classes
    if classes:
        return "class", classes[0], classes[0], classes
    calcs = [f for f in functions if f.startswith("calculate_")]
    if calcs:
        return "function", calcs[0], calcs[0].removeprefix("calculate_"), classes
    return "script", None, None, classes


def audit_source(source: str, filename: str = "factor.py", *, allow_ml: bool = False,
                 extra_banned_attrs: frozenset[str] = frozenset()) -> AuditReport:
    """Audit factor source; never raises for findings (see `AuditReport.raise_if_rejected`).

    A syntax error is itself a rejection, reported as a finding at the offending position. Model code (a loop's
    ``model.py``) passes the same gate with ``allow_ml`` (it is a network, so it imports torch) and the attributes
    of ML libraries that load code or files added to the banned ones.
    """
    sha = hashlib.sha256(source.encode("utf-8")).hexdigest()
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        finding = Finding(exc.lineno or 0, (exc.offset or 1) - 1, "syntax", f"does not parse: {exc.msg}")
        return AuditReport(filename, sha, (finding,), "script", None, None)
    auditor = _Auditor(allow_ml, extra_banned_attrs)
    auditor.visit(tree)
    style, entry, name, classes = _entrypoints(tree)
    findings = tuple(sorted(auditor.findings, key=lambda f: (f.line, f.col, f.rule)))
    return AuditReport(filename, sha, findings, style, entry, name, classes)


def require_clean(source: str, filename: str = "factor.py") -> AuditReport:
    """`audit_source` that raises `FactorError` (listing every finding) when the code is rejected."""
    return audit_source(source, filename).raise_if_rejected()
