"""nav.png drawn by a separate process that imports matplotlib while the backtest runs.

Importing matplotlib costs about half a second, nearly as long as the backtest itself, and the chart is the last
thing a backtest needs. ``aistock backtest`` therefore starts this module as a child process before it imports
pandas: the child imports matplotlib on the other core, then waits on its stdin for the curves (`NavCurves` as
an ``.npz``, no pickle), draws them with `draw_nav_png` (the same function the in-process path uses) and writes
the PNG where it is told. The parent sends the curves as soon as the report exists, writes the other files
meanwhile, and waits for the child before the output folder is renamed into place (`write_outputs`).

The child never outlives the command: `NavChartProcess` kills it when it is closed before the chart is done (an
error, Ctrl-C), and a child whose parent died reads end-of-file on stdin and exits without drawing.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aistock_core.errors import StrategyError
from aistock_core.strategy.backtest.plot import NavCurves, draw_nav_png

#: How much of the child's stderr a failure shows (its end: where a traceback says what went wrong).
STDERR_TAIL = 2000


class NavChartProcess:
    """A started chart child; use as a context manager (closing kills a child that has not finished)."""

    #: The child's command line (a test replaces it with one that fails).
    command: tuple[str, ...] = (sys.executable, "-m", "aistock_core.strategy.backtest.chart_process")

    def __init__(self) -> None:
        # A file, not a pipe: a chatty child can never block on it. Closed by close().
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            #: The child (public for tests: whether it still runs).
            self.process = subprocess.Popen(list(self.command), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                            stderr=self._stderr)
        except BaseException:
            self._stderr.close()
            raise

    def __enter__(self) -> NavChartProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Kill the child if it still runs and release its pipes."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        if self.process.stdin:
            self.process.stdin.close()
        self._stderr.close()

    @contextmanager
    def drawing(self, curves: NavCurves, path: Path, title: str) -> Iterator[None]:
        """Have the child draw ``curves`` into ``path`` while the block runs; wait for it when the block ends.

        A block that raises kills the child first, so nothing writes into a folder being removed; a child that
        fails raises `StrategyError` with the end of its stderr.
        """
        import numpy as np  # here, not at the top: the child is started before numpy is imported

        buf = io.BytesIO()
        np.savez(buf, path=np.array(str(path)), title=np.array(title), **curves._asdict())
        try:
            try:  # blocks at most until the child, done importing, reads (the curves outgrow a pipe's buffer)
                self.process.stdin.write(buf.getvalue())
                self.process.stdin.close()
            except BrokenPipeError:
                pass  # the child already died: its exit status and stderr say why, below
            yield
            code = self.process.wait()
        except BaseException:
            self.close()
            raise
        if code != 0:
            self._stderr.seek(0)
            tail = self._stderr.read().decode(errors="replace")[-STDERR_TAIL:].strip()
            raise StrategyError(f"the chart process drawing {path.name} failed (exit status {code}): "
                                f"{tail or 'no message'}")


def main() -> None:
    """The child: import matplotlib now, then draw what arrives on stdin (nothing, if the parent gave up)."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401  the point: imported before the data
    from matplotlib.figure import Figure  # noqa: F401

    payload = sys.stdin.buffer.read()
    if not payload:
        return
    with np.load(io.BytesIO(payload), allow_pickle=False) as data:
        curves = NavCurves(**{name: data[name] for name in NavCurves._fields})
        Path(str(data["path"])).write_bytes(draw_nav_png(curves, str(data["title"])))
    # The PNG is written and closed: skip the interpreter's teardown (about 70 ms with matplotlib loaded), which
    # the parent would otherwise wait for.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
