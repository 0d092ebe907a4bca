"""Evaluate Qlib expressions over a whole panel at once, with Qlib 0.9.7's exact semantics.

`compute` works on a `Panel` (the "qlib" adjustment view, float32 like Qlib's bins); `compute_frame` loads the
panel from a `DataService` with enough look-back that the first requested day equals a full-history compute.
Shared sub-expressions are evaluated once per call: the AST is hashable by value, so `FactorEngine` plans
all expressions once into a linear program over integer slots (one per distinct node), and a reference count
frees each intermediate as soon as its last consumer is done (Alpha158 on 500 × 1500 would otherwise hold
gigabytes of float64 temporaries). Window kernels are numba (`kernels`); blocks of instruments run on threads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from aistock_core.cpus import usable_cpus
from aistock_core.data.panel import Panel, spans_mask
from aistock_core.errors import AistockError, FactorError
from aistock_core.factors import kernels as K
from aistock_core.factors.allocator import keep_freed_blocks
from aistock_core.factors.expr import Call, Const, Expr, Feature
from aistock_core.factors.ops import Value
from aistock_core.factors.ordinal import rolling_order_stats
from aistock_core.factors.parser import parse
from aistock_core.factors.rolling import Series2D


def parse_all(expressions: Mapping[str, str | Expr]) -> dict[str, Expr]:
    """Parse every expression first (nothing is computed if one is wrong); errors name the factor."""
    if not expressions:
        raise FactorError("no factor expressions given")
    parsed: dict[str, Expr] = {}
    for name, text in expressions.items():
        if isinstance(text, Expr):
            parsed[name] = text
            continue
        try:
            parsed[name] = parse(text)
        except FactorError as exc:
            raise FactorError(f"factor {name!r}: {exc}") from None
    for name, expr in parsed.items():
        if isinstance(expr, Const):
            raise FactorError(f"factor {name!r} is the constant {expr}; an expression must read a $field")
    return parsed


def fields_of(exprs: Iterable[Expr]) -> list[str]:
    """Fields the expressions read, in first-use order."""
    seen: dict[str, None] = {}

    def walk(node: Expr) -> None:
        if isinstance(node, Feature):
            seen.setdefault(node.name)
        elif isinstance(node, Call):
            for arg in node.args:
                walk(arg)

    for expr in exprs:
        walk(expr)
    return list(seen)


def lookback_of(exprs: Iterable[Expr]) -> tuple[int, int]:
    """(sessions of history, sessions of future) the expressions need."""
    extents = [e.extent() for e in exprs]
    return max((left for left, _ in extents), default=0), max((right for _, right in extents), default=0)


class FactorEngine:
    """Evaluates a set of expressions on panels; parse and plan once, compute on many panels."""

    def __init__(self, expressions: Mapping[str, str | Expr]) -> None:
        self.expressions = parse_all(expressions)
        self.fields = fields_of(self.expressions.values())
        self.lookback, self.future = lookback_of(self.expressions.values())
        self._plan = _Plan(self.expressions)

    #: cells (instruments × sessions) evaluated together: ~64 series of 1,500 sessions keep each (N, T)
    #: temporary cache-sized, while a short live window (60 sessions) takes thousands of instruments per
    #: block so the per-step Python overhead is paid a few times, not dozens. Results do not depend on it
    #: (every instrument is computed on its own series, as in Qlib).
    block_cells = 96_000
    #: instruments per block, overriding `block_cells` when set
    block: int | None = None
    #: blocks computed side by side (threads); None: one per CPU this process can use (`cpus.usable_cpus`)
    threads: int | None = None

    def compute(self, panel: Panel) -> dict[str, np.ndarray]:
        """float32 (T × N) arrays aligned to ``panel.dates × panel.instruments``; NaN outside listed cells.

        The arrays are views of one `compute_stack` buffer (one per name, disjoint).
        """
        return dict(zip(self.expressions, self.compute_stack(panel), strict=True))

    def compute_stack(self, panel: Panel) -> np.ndarray:
        """All expressions as one float32 (K × T × N) array, K in the expressions' order.

        One allocation for all outputs: large enough for the kernel's transparent huge pages, which makes
        first-touching hundreds of MiB about 3x cheaper than one small allocation per name. Every cell is
        written once by `kernels.store` (NaN where unlisted), so there is no NaN fill pass either.
        """
        t, n = self._check(panel)
        if t == 0 or n == 0:  # nothing to compute (and the kernels have no rows to run on)
            return np.full((len(self.expressions), t, n), np.nan, dtype=np.float32)
        whole = np.empty((len(self.expressions), t, n), dtype=np.float32)
        listed = np.ascontiguousarray(panel.listed)
        self._run_blocks(t, n, lambda cols: self._compute_block(
            panel, cols, partial(_store, listed[:, cols], whole[:, :, cols])))
        return whole

    def compute_cells(self, panel: Panel, dest: np.ndarray, count: int) -> np.ndarray:
        """The expressions at chosen cells only, as one float32 (K × ``count``) array: cell (t, i) of the panel
        goes to column ``dest[t, i]``; cells with ``dest < 0`` are computed (a window needs its history) but
        not kept. ``dest`` must be listed cells only, each column number once.

        What `compute_frame` needs: its long frame is a fixed selection of cells in a chosen row order, so
        writing each value straight to its row saves the (K × T × N) stack, its first touch of hundreds of
        MiB and a gather pass over all of it.
        """
        t, n = self._check(panel)
        data = np.empty((len(self.expressions), count), dtype=np.float32)
        if count == 0:
            return data
        self._run_blocks(t, n, lambda cols: self._compute_block(
            panel, cols, partial(_scatter, np.ascontiguousarray(dest[:, cols]), data)))
        return data

    def _check(self, panel: Panel) -> tuple[int, int]:
        missing = [f for f in self.fields if f not in panel.values]
        if missing:
            raise FactorError(
                f"panel lacks field(s) {missing} that the expressions read; load them (qlib view) first"
            )
        return panel.listed.shape

    def _blocks(self, t: int, n: int, workers: int) -> list[slice]:
        """Column ranges of about `block_cells` cells (`block` instruments when set); more than one block is made
        a multiple of ``workers`` so that none idles at the end (a 60-session window of 5,000 names: 4 blocks on
        2 threads, not 3), while a panel of one block's size stays whole."""
        if self.block:
            step = self.block
        else:
            count = -(-n * max(t, 1) // self.block_cells)
            if count > 1:
                count = -(-count // workers) * workers
            step = max(1, -(-n // max(count, 1)))
        return [slice(lo, min(lo + step, n)) for lo in range(0, n, step)]

    def _run_blocks(self, t: int, n: int, compute: Callable[[slice], None]) -> None:
        """``compute`` every block, on `threads` threads side by side: the kernels release the GIL, so one
        block's kernels run while another's Python steps do. Blocks write disjoint cells; the first error
        cancels the blocks not started yet and is raised once the running ones end."""
        keep_freed_blocks()  # once per process: the blocks' temporaries reuse freed memory (`allocator`)
        workers = self.threads or usable_cpus()  # the affinity mask and cgroup quota, read once per compute
        blocks = self._blocks(t, n, workers)
        workers = min(len(blocks), workers)
        if workers <= 1:
            for cols in blocks:
                compute(cols)
            return
        with ThreadPoolExecutor(workers, thread_name_prefix="factor-block") as pool:
            futures = [pool.submit(compute, cols) for cols in blocks]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    def _compute_block(self, panel: Panel, cols: slice, write: Writer) -> None:
        t = panel.listed.shape[0]
        rows = panel.listed[:, cols].T  # (N, T): one series per row, as Qlib computes
        ever = rows.any(axis=1)
        first = np.where(ever, rows.argmax(axis=1), t).astype(np.int64)
        last = np.where(ever, t - rows[:, ::-1].argmax(axis=1), t).astype(np.int64)
        geo = Series2D(n=rows.shape[0], t=t, first=first, last=last)
        # C order: np.where would keep the transpose's column-major layout, and every kernel and element-wise
        # operation downstream reads one series per contiguous row
        inputs = {
            f: np.where(rows, np.ascontiguousarray(np.asarray(panel.values[f][:, cols], dtype=np.float32).T),
                        np.float32(np.nan))
            for f in self.fields
        }
        _Evaluation(self._plan, geo, inputs).run(write)


#: receives each expression's (N, T) value once it is ready: (expression number, value)
Writer = Callable[[int, np.ndarray], None]


def _store(listed: np.ndarray, out: np.ndarray, k: int, value: np.ndarray) -> None:
    """`Writer` of `FactorEngine.compute_stack`: one block's (T × n) cells of expression ``k``."""
    K.store(value, listed, out[k])


def _scatter(dest: np.ndarray, out: np.ndarray, k: int, value: np.ndarray) -> None:
    """`Writer` of `FactorEngine.compute_cells`: one block's kept cells into row ``k`` of the long block."""
    K.scatter(value, dest, out[k])


@dataclass(frozen=True)
class _Step:
    """One node of the shared expression DAG, in evaluation order, addressed by integer slots.

    ``args``: per argument, ``(slot, form)`` for an evaluated input or ``(None, value)`` for a window size or
    quantile level passed as a number; ``deps``: slots of the helper nodes (Var for Std, the regression state
    for Slope/Resi/Rsquare) passed after the arguments. A quantile step computes ``group`` — every level of
    the same (input, window), and its Rank (level ``None``) — from one sorted buffer.
    """

    slot: int
    node: Expr
    args: tuple[tuple[int | None, object], ...] = ()
    deps: tuple[int, ...] = ()
    group: tuple[tuple[int, float | None], ...] = ()


class _Plan:
    """The expressions compiled once into a linear program over slots.

    Equal sub-expressions (the AST hashes by value) get one slot, so a shared node is computed once per block;
    ``uses`` counts its consumers (arguments, helpers, outputs) so the evaluation frees each intermediate as
    soon as its last consumer is done (Alpha158 on 500 × 1500 would otherwise hold gigabytes of float64
    temporaries). Hashing the AST happens here, not once per node per block.
    """

    def __init__(self, exprs: Mapping[str, Expr]) -> None:
        self.slots: dict[Expr, int] = {}
        self.steps: list[_Step] = []
        self.uses: list[int] = []
        self.nodes: list[Expr] = []
        #: slot → the first factor that needs it (named when its evaluation fails)
        self.owner: list[str] = []
        self._current = ""
        groups: dict[tuple[Expr, int], list[Call]] = {}
        for expr in exprs.values():
            self._collect_groups(expr, groups, set())
        self.groups = {key: members for key, members in groups.items() if len(members) > 1}
        for name, expr in exprs.items():
            self._current = name
            self._visit(expr)
        self.exprs = dict(exprs)
        #: slot → the numbers (positions in ``exprs``) of the expressions it is the value of
        self.outputs: dict[int, list[int]] = {}
        for k, expr in enumerate(exprs.values()):
            slot = self.slots[expr]
            self.outputs.setdefault(slot, []).append(k)
            self.uses[slot] += 1

    def _collect_groups(self, node: Expr, groups: dict, seen: set) -> None:
        if node in seen or not isinstance(node, Call):
            return
        seen.add(node)
        if _order_stat(node):
            members = groups.setdefault((node.args[0], node.args[1].value), [])
            if node not in members:
                members.append(node)
        for child in _children(node):
            self._collect_groups(child, groups, seen)

    def _slot_of(self, node: Expr) -> int:
        """Slot of ``node``, planning it (children first) on first sight; counts one use."""
        slot = self._visit(node)
        self.uses[slot] += 1
        return slot

    def _visit(self, node: Expr) -> int:
        if node in self.slots:
            return self.slots[node]
        if not isinstance(node, Call):
            return self._add(_Step(len(self.uses), node))
        group = self.groups.get((node.args[0], node.args[1].value)) if _order_stat(node) else None
        if group is not None:
            return self._add_order_stats(node, group)
        spec = node.spec
        window_form = "float64" if spec.keep_inf else "float"
        form = {"elem": "raw", "ref": "series", "delta": "series"}.get(spec.shape, window_form)
        args = tuple((None, a.value) if _is_param(node, i) else (self._slot_of(a), form)
                     for i, a in enumerate(node.args))
        deps = tuple(self._slot_of(d) for d in spec.deps(node.args)) if spec.deps else ()
        return self._add(_Step(len(self.uses), node, args, deps))

    def _add_order_stats(self, node: Call, group: list[Call]) -> int:
        """All quantile levels and the rank of one (input, window) in one step; each member consumes its
        input once, as if alone."""
        x = node.args[0]
        src = [self._slot_of(x) for _ in group]
        members = []
        for member in group:
            self.slots[member] = len(self.uses)
            self.uses.append(0)
            self.nodes.append(member)
            self.owner.append(self._current)
            members.append((self.slots[member], member.args[2].value if member.op == "Quantile" else None))
        self.steps.append(_Step(members[0][0], node, ((src[0], "float"),), tuple(src[1:]), tuple(members)))
        return self.slots[node]

    def _add(self, step: _Step) -> int:
        self.slots[step.node] = step.slot
        self.uses.append(0)
        self.nodes.append(step.node)
        self.owner.append(self._current)
        self.steps.append(step)
        return step.slot


class _Evaluation:
    """One block of one compute call: runs the plan, frees intermediates after their last use.

    Window kernels get their series inputs masked to the instrument's own rows (`Series2D.within`) and,
    except shifts (which keep the dtype, as pandas' ``shift`` does), as float64 with ±inf turned into NaN —
    exactly what pandas' ``_prep_values`` hands its window functions (Qlib's own Cython regression and
    ``Count``, which counts before that step, see the infinities). The forms are cached beside the slot's
    value and freed with it, so ``$close`` is converted once for the dozens of windows that read it.
    """

    def __init__(self, plan: _Plan, geo: Series2D, inputs: dict[str, np.ndarray]) -> None:
        self.plan = plan
        self.geo = geo
        self.inputs = inputs
        self.values: dict[int, Value] = {}
        self.forms: dict[tuple[int, str], np.ndarray] = {}
        self.uses = list(plan.uses)

    def run(self, write: Writer) -> None:
        """Evaluate every step; hand each expression to ``write`` as soon as it is ready."""
        outputs = self.plan.outputs
        shape = (self.geo.n, self.geo.t)
        for step in self.plan.steps:
            try:
                self._eval(step)
            except AistockError:
                raise
            except (TypeError, ValueError) as exc:
                name = self.plan.owner[step.slot]
                raise FactorError(f"factor {name!r} ({self.plan.exprs[name]}) cannot be evaluated: {exc}") from None
            for slot in (m for m, _ in step.group) if step.group else (step.slot,):
                for k in outputs.get(slot, ()):
                    value = np.asarray(self.values[slot])
                    if value.dtype not in _STORED or value.shape != shape or not value.flags.c_contiguous:
                        value = np.ascontiguousarray(np.broadcast_to(value, shape), dtype=np.float64)  # rare
                    write(k, value)
                    self._release(slot)

    def _release(self, slot: int) -> None:
        self.uses[slot] -= 1
        if self.uses[slot] <= 0:
            self.values.pop(slot, None)
            for f in _FORMS:
                self.forms.pop((slot, f), None)

    def _take(self, slot: int, form: str) -> Value:
        """Value of ``slot`` in ``form`` ("raw"; "series" = masked; "float64" = masked float64; "float" = that
        with ±inf as NaN); drops it once every consumer has taken it."""
        value = self.values[slot] if form == "raw" else self._form(slot, form)
        self._release(slot)
        return value

    def _form(self, slot: int, form: str) -> np.ndarray:
        key = (slot, form)
        if key not in self.forms:
            self.forms[key] = self._mask(slot, form)
        return self.forms[key]

    def _mask(self, slot: int, form: str) -> np.ndarray:
        if form == "float":
            arr = self._form(slot, "float64")
            inf = np.isinf(arr)
            return np.where(inf, np.nan, arr) if inf.any() else arr
        arr = np.broadcast_to(np.asarray(self.values[slot]), (self.geo.n, self.geo.t))
        if not isinstance(self.plan.nodes[slot], Feature):  # inputs are already NaN outside the listing
            arr = self.geo.within(arr)
        return np.ascontiguousarray(arr, dtype=np.float64) if form == "float64" else arr

    def _eval(self, step: _Step) -> None:
        node = step.node
        if isinstance(node, Const):
            self.values[step.slot] = node.value
            return
        if isinstance(node, Feature):
            self.values[step.slot] = self.inputs[node.name]
            return
        assert isinstance(node, Call)
        if step.group:
            x = self._take(step.args[0][0], "float")
            for src in step.deps:
                self._release(src)  # each sibling consumes its input once, as if alone
            qs = [q for _, q in step.group if q is not None]
            values = iter(rolling_order_stats(self.geo, x, node.args[1].value, qs, len(qs) < len(step.group)))
            for slot, _ in sorted(step.group, key=lambda m: m[1] is None):  # the rank comes last
                self.values[slot] = next(values)
            return
        args = [value if slot is None else self._take(slot, value) for slot, value in step.args]
        deps = [self._take(d, "raw") for d in step.deps]
        self.values[step.slot] = node.spec.fn(self.geo, *args, *deps)


_FORMS = ("series", "float64", "float")
#: dtypes `kernels.store` is compiled for (each one more JIT signature); others are converted first
_STORED = (np.dtype(np.float32), np.dtype(np.float64))


def _order_stat(node: Call) -> bool:
    """Quantile (strictly inside (0, 1)) and Rank over a finite window: they can share one sorted buffer."""
    if node.op == "Quantile":
        return node.args[1].value > 0 and 0 < node.args[2].value < 1
    return node.op == "Rank" and node.args[1].value > 0


def _children(node: Call) -> list[Expr]:
    """Evaluated inputs of a call: its expression arguments and the helper nodes its operator shares."""
    args = [a for i, a in enumerate(node.args) if not _is_param(node, i)]
    return [*args, *node.spec.deps(node.args)] if node.spec.deps else args


def _is_param(node: Call, index: int) -> bool:
    """Window sizes and quantile levels are passed as plain numbers, not evaluated."""
    return node.spec.params[index] in ("n", "ref", "span", "q")


def compute(panel: Panel, expressions: Mapping[str, str | Expr]) -> dict[str, np.ndarray]:
    """Evaluate ``expressions`` (name → Qlib expression) on ``panel``: float32 (T × N) arrays per name."""
    return FactorEngine(expressions).compute(panel)


def session_range(service, start, end, back: int,
                  ahead: int = 0) -> tuple[pd.DatetimeIndex, pd.Timestamp, pd.Timestamp]:
    """The sessions in [start, end] and the first and last session to load: ``back`` sessions before and
    ``ahead`` after them, clipped to the sessions the service has."""
    wanted = service.resolve_dates(start=start, end=end)
    every = service.resolve_dates()
    lo = max(int(every.get_loc(wanted[0])) - back, 0)
    hi = min(int(every.get_loc(wanted[-1])) + ahead, len(every) - 1)
    return wanted, every[lo], every[hi]


def compute_frame(
    service,
    universe,
    expressions: Mapping[str, str | Expr] | FactorEngine,
    *,
    start=None,
    end=None,
    lookback: int | None = None,
    instrument_order: Callable[[pd.Index], np.ndarray] | None = None,
) -> pd.DataFrame:
    """Factors as a long frame: index (datetime, instrument), one float32 column per name in order.

    Loads ``lookback`` sessions before ``start`` (default: the expressions' look-back, as Qlib extends its
    query) and the sessions after ``end`` that future references need, so values at ``start`` equal a
    full-history compute. EMA and expanding windows have unbounded memory: like Qlib, they see only the
    loaded window. Rows are the listed cells in [start, end]; for a market name (``"csi300"``), only the
    cells inside the market's membership spans — what Qlib's ``D.features(D.instruments(market))`` returns
    (each series is still computed over the instrument's whole data, as Qlib does). A `FactorEngine` may be
    passed instead of the expressions: a caller that computes the same set every day parses and plans it once.
    ``instrument_order``: positions of the panel's instruments in the order a day's rows should have (default:
    the panel's, sorted by our code); the frame is built in that order, with no reordering copy afterwards.
    """
    engine = expressions if isinstance(expressions, FactorEngine) else FactorEngine(expressions)
    back = engine.lookback if lookback is None else int(lookback)
    if back < 0:
        raise FactorError(f"lookback must be ≥ 0, got {lookback}")
    wanted, load_start, load_end = session_range(service, start, end, back, engine.future)
    market = universe if isinstance(universe, str) and universe in service.provider.markets() else None
    # Series run over each instrument's whole data even when a market's membership is shorter: load by code
    # (the listing), then keep the membership rows — the order of Qlib's inst_calculator.
    panel = service.get_panel(
        service.resolve_universe(universe) if market else universe, start=load_start, end=load_end,
        fields=engine.fields, adjust="qlib", dtype=np.float32,
    )
    rows = panel.dates.get_indexer(wanted)
    rows = rows[rows >= 0]
    keep = panel.listed
    if market is not None:
        keep = keep & spans_mask(service.provider.instrument_spans(market), panel.dates, panel.instruments)
    order = np.arange(len(panel.instruments)) if instrument_order is None else instrument_order(panel.instruments)
    # the kept cells, time-major and in ``order`` within a day: the long frame's rows
    t_idx, j_idx = np.nonzero(keep[rows][:, order])
    i_idx = order[j_idx]
    # int32 while the frame's rows fit: `compute_cells` reads the whole map once per expression and block
    dest = np.full(panel.listed.shape, -1, dtype=np.int32 if len(t_idx) < 2**31 else np.int64)
    dest[rows[t_idx], i_idx] = np.arange(len(t_idx))
    data = engine.compute_cells(panel, dest, len(t_idx))
    # built from codes: the levels are already unique, so pandas need not factorise 10^5-10^6 labels
    index = pd.MultiIndex(levels=[panel.dates[rows], panel.instruments], codes=[t_idx, i_idx],
                          names=["datetime", "instrument"], verify_integrity=False)
    return pd.DataFrame(data.T, index=index, columns=list(engine.expressions))
