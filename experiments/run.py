"""Run a named experiment grid, resumably: `python -m experiments.run --grid cpu`.

Every cell is one command (see `experiments/grids.py`), run in dependency order, up to --jobs at a time (each with
one torch thread when several run together). A finished cell leaves `results/<grid>/<cell id>.json` (status "done",
its command, timings and the command's results.json) and is skipped by the next run, so a killed grid resumes where
it stopped; a cell killed half-way is rerun with the same command, which resumes from its last checkpoint. Logs go to
<workdir>/<grid>/logs/, checkpoints to <workdir>/<grid>/<cell id>/ (both git-ignored under runs/). A finished cell
whose checkpoint a cell still to run needs, but which is gone from disk (runs/ is not kept between machines), is run
again with the command its record holds; the earlier record moves to results/<grid>/superseded/, and each cell's
record names the runs of its dependencies it used (their start times).

    HF_HUB_OFFLINE=1 python -m experiments.run --grid cpu [--data_dir ../shared/data] [--workdir runs/experiments]
    python -m experiments.run --grid cpu --list          # the cells and their state, nothing run
    python -m experiments.run --grid paper --only 'bert-6-20k|scratch'   # a part of a grid (regular expression)
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from modeling_tlm.timing import machine
from modeling_tlm.training.checks import ArgumentError, check_at_least
from modeling_tlm.training.files import write_json
from modeling_tlm.training.progress import read_progress
from modeling_tlm.training.commands import run_cli

from .cells import Cell
from .grids import GRIDS, get_grid

ROOT = Path(__file__).resolve().parents[1]
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies (Linux)
HEARTBEAT_S = 60.0  # how often running cells' progress is printed


@dataclass
class Running:
    cell: Cell
    index: int
    process: subprocess.Popen
    started: float
    log: Path
    threads: int


def result_path(results_dir: Path, grid: str, cell_id: str) -> Path:
    return results_dir / grid / f"{cell_id}.json"


def is_done(path: Path) -> bool:
    try:
        return json.loads(path.read_text()).get("status") == "done"
    except (OSError, ValueError):
        return False


def command_text(argv: list[str]) -> str:
    return shlex.join(["python", *argv])


def check_order(cells: list[Cell]) -> None:
    """Cells must come after the cells they depend on (grids build them so); a typo'd dependency is an error."""
    seen: set[str] = set()
    ids = {c.id for c in cells}
    if len(ids) != len(cells):
        raise ValueError("duplicate cell ids in the grid")
    for cell in cells:
        missing = [d for d in cell.deps if d not in ids]
        if missing:
            raise ValueError(f"cell {cell.id} depends on unknown cells {missing}")
        late = [d for d in cell.deps if d not in seen]
        if late:
            raise ValueError(f"cell {cell.id} comes before the cells it depends on: {late}")
        seen.add(cell.id)


def code_version() -> str:
    """The commit the grid's code comes from (run a grid from a clean worktree of it), '+dirty' if changed."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def record(cell: Cell, grid: str, status: str, started: float, threads: int, log: Path, rc: int) -> dict:
    outputs = {}
    results_file = Path(cell.output_dir) / "results.json"
    if status == "done":
        outputs = json.loads(results_file.read_text())
    return {
        "grid": grid, "id": cell.id, "kind": cell.kind, "status": status, "meta": cell.meta,
        "command": command_text(cell.argv), "argv": cell.argv, "deps": cell.deps, "returncode": rc,
        "started_at": datetime.datetime.fromtimestamp(started).isoformat(timespec="seconds"),
        "duration_s": round(time.time() - started, 1), "torch_threads": threads, "log": str(log),
        "machine": machine(), "code_version": code_version(), "results": outputs,
    }


def cell_progress(cell: Cell) -> str:
    """Where a running cell is, from the progress.json its script writes, e.g. 'step 120/375 (32%)', or ''."""
    progress = read_progress(cell.output_dir)
    if not progress:
        return ""
    steps = f"{progress['step']}/{progress['max_steps']}" if progress["max_steps"] else f"{progress['step']}"
    return f"step {steps} ({100 * progress['fraction']:.0f}%)"


def fmt(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Estimator:
    """Time left: each unfinished cell costs the mean duration of the finished cells of its kind; exclusive cells run
    one at a time, the others `jobs` at a time. Kinds with no finished cell yet are named, not guessed from others
    (a 30-minute pre-training cell says nothing about a 1-minute fine-tuning one)."""

    def __init__(self):
        self.durations: dict[str, list[float]] = {}

    def add(self, kind: str, seconds: float) -> None:
        self.durations.setdefault(kind, []).append(seconds)

    def guess(self, kind: str) -> float | None:
        own = self.durations.get(kind)
        return sum(own) / len(own) if own else None

    def left(self, pending: list[Cell], running: list[Running], jobs: int) -> str:
        alone = shared = 0.0
        untimed: Counter[str] = Counter()
        for cell in pending:
            guess = self.guess(cell.kind)
            if guess is None:
                untimed[cell.kind] += 1
            elif cell.exclusive:
                alone += guess
            else:
                shared += guess
        for r in running:
            if r.cell.exclusive:
                alone += self.running_left(r)
            else:
                shared += self.running_left(r)
        text = f"~{fmt(alone + shared / jobs)}"
        if untimed:
            text += " + " + ", ".join(f"{n} {kind}" for kind, n in untimed.items()) + " cells not yet timed"
        return text

    def running_left(self, r: Running) -> float:
        """From the cell's own progress.json where it has one (elapsed x (1 - f) / f); else the kind's mean."""
        elapsed = time.time() - r.started
        fraction = (read_progress(r.cell.output_dir) or {}).get("fraction") or 0.0
        if fraction > 0.01:
            return elapsed * (1 - fraction) / fraction
        return max((self.guess(r.cell.kind) or 0.0) - elapsed, 0.0)


def _die_with_parent() -> None:
    """In the child, before exec: the kernel sends it SIGKILL when the runner dies, however it dies (a SIGKILL of the
    runner included), so no cell is left writing into its folder after the runner is gone."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL) != 0 or os.getppid() == 1:  # the runner died before prctl
        os._exit(1)


def start_cell(argv: list[str], env: dict, log) -> subprocess.Popen:
    """`python argv...` in its own process group (the runner's Ctrl-C is not sent to it twice), output to `log`,
    dying with the runner."""
    return subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=_die_with_parent)


def run_grid(grid_name: str, data_dir: str, workdir: str, results_dir: Path, jobs: int = 1,
             only: str | None = None, list_only: bool = False) -> int:
    """Run the grid's unfinished cells (those matching `only`), `jobs` at a time, in dependency order; the exit
    status: 0 if every cell is done, 1 if any failed or was skipped."""
    grid = get_grid(grid_name)
    cells = grid.cells(data_dir, workdir)
    check_order(cells)
    done = {c.id for c in cells if is_done(result_path(results_dir, grid.name, c.id))}
    selected = {c.id for c in cells if not only or re.search(only, c.id)}
    gone = outputs_gone(cells, selected, done)
    cells = [regenerated(c, results_dir, grid.name) if c.id in gone else c
             for c in cells if c.id in selected or c.id in gone]
    done = (done - gone) & ({c.id for c in cells} | {d for c in cells for d in c.deps})
    if list_only:
        print(f"grid {grid.name}: results in {results_dir / grid.name}")
        for i, c in enumerate(cells, 1):
            state = "redo" if c.id in gone else "done" if c.id in done else "todo"
            print(f"{i:4d} {state:4s} {c.kind:9s} {c.id}")
        return 0
    for c in cells:
        if c.id in gone:
            print(f"{c.id}: its outputs ({c.output_dir}) are gone and a cell to run needs them; running it again "
                  f"with its recorded command", flush=True)
    return GridRun(grid.name, cells, done, Path(workdir), results_dir, jobs).run()


def outputs_gone(cells: list[Cell], selected: set[str], done: set[str]) -> set[str]:
    """Finished cells whose results.json (and checkpoint) is no longer on disk although a selected cell still to run,
    or one of these, depends on them."""
    by_id = {c.id: c for c in cells}
    gone: set[str] = set()
    todo = [c for c in cells if c.id in selected and c.id not in done]
    while todo:
        cell = todo.pop()
        for dep in cell.deps:
            if dep in done and dep not in gone and not (Path(by_id[dep].output_dir) / "results.json").exists():
                gone.add(dep)
                todo.append(by_id[dep])
    return gone


def regenerated(cell: Cell, results_dir: Path, grid: str) -> Cell:
    """The cell with the command its record holds (the one that made the lost outputs)."""
    return replace(cell, argv=json.loads(result_path(results_dir, grid, cell.id).read_text())["argv"])


def keep_earlier_record(path: Path) -> None:
    """Move a finished cell's record to superseded/<cell id>.<its start>.json, out of the report's way."""
    started = json.loads(path.read_text())["started_at"].replace(":", "")
    (path.parent / "superseded").mkdir(exist_ok=True)
    path.rename(path.parent / "superseded" / f"{path.stem}.{started}.json")


class GridRun:
    """One invocation of the runner: launches ready cells, collects finished ones, reports progress."""

    def __init__(self, grid: str, cells: list[Cell], done: set[str], workdir: Path, results_dir: Path, jobs: int):
        self.grid, self.cells, self.done, self.workdir, self.results_dir, self.jobs = \
            grid, cells, done, workdir, results_dir, jobs
        self.index = {c.id: i for i, c in enumerate(cells, 1)}
        self.pending = [c for c in cells if c.id not in done]
        self.running: list[Running] = []
        self.failed: set[str] = set()
        self.stop_signal: int | None = None  # set by SIGTERM/SIGINT; the main loop then stops the cells and exits
        self.estimator = Estimator()
        self.started_at: dict[str, str] = {}  # cell id -> start of the run whose outputs are on disk
        kinds = {c.id: c.kind for c in cells}
        for cell_id in done:  # the selected cells and their dependencies
            data = json.loads(result_path(results_dir, grid, cell_id).read_text())
            self.started_at[cell_id] = data["started_at"]
            if cell_id in kinds:
                self.estimator.add(kinds[cell_id], data["duration_s"])
        self.shared_threads = 1 if jobs > 1 else (os.cpu_count() or 1)
        self.start = self.last_beat = time.time()

    def run(self) -> int:
        total = len(self.cells)
        print(f"grid {self.grid}: {total} cells, {total - len(self.pending)} already done, {len(self.pending)} to run, "
              f"{self.jobs} at a time (results: {self.results_dir / self.grid}, logs: {self.workdir / self.grid / 'logs'})",
              flush=True)
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        while self.pending or self.running:
            if self.stop_signal is not None:  # stop here, not inside the handler: no cell is recorded half-way
                return self.stop_children(self.stop_signal)
            self.skip_blocked()
            self.launch_ready()
            time.sleep(0.5)
            self.collect_finished()
            self.heartbeat()
        print(f"grid {self.grid}: {self.done_count()}/{total} cells done, {len(self.failed)} failed or skipped, "
              f"this run {fmt(time.time() - self.start)}", flush=True)
        return 1 if self.failed else 0

    def done_count(self) -> int:
        return sum(c.id in self.done for c in self.cells)

    def left(self) -> str:
        return self.estimator.left(self.pending, self.running, self.jobs)

    def cell_env(self, cell: Cell) -> tuple[dict, int]:
        """An exclusive cell runs alone and gets every core; others share the machine, one thread each."""
        threads = (os.cpu_count() or 1) if cell.exclusive else self.shared_threads
        # The Hub settings are the user's: the paper grid reads Wikipedia from the Hub; set HF_HUB_OFFLINE=1 offline.
        return dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
                    TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1"), threads

    def skip_blocked(self) -> None:
        """Cells whose dependencies failed or are not run (--only) cannot run: skipped, and counted as failed."""
        coming = {c.id for c in self.pending} | {r.cell.id for r in self.running}
        for c in [c for c in self.pending
                  if any(d in self.failed or (d not in self.done and d not in coming) for d in c.deps)]:
            print(f"[{self.index[c.id]}/{len(self.cells)}] {c.id}: skipped, it depends on a failed cell or one not run "
                  f"(--only)", flush=True)
            self.pending.remove(c)
            self.failed.add(c.id)

    def launch_ready(self) -> None:
        """Start what is ready: dependencies done, a free slot, and exclusive cells only on an idle machine."""
        for c in list(self.pending):
            if len(self.running) >= self.jobs or any(r.cell.exclusive for r in self.running):
                break
            if not all(d in self.done for d in c.deps):
                continue
            if c.exclusive and self.running:
                break  # wait for the machine to be idle; keep the order so it is not starved
            self.launch(c)
            if c.exclusive:
                break

    def launch(self, c: Cell) -> None:
        log = self.workdir / self.grid / "logs" / f"{c.id}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        Path(c.output_dir).mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as f:
            f.write(f"\n=== {datetime.datetime.now().isoformat(timespec='seconds')} {command_text(c.argv)}\n".encode())
            env, threads = self.cell_env(c)
            process = start_cell(c.argv, env, f)
        self.running.append(Running(c, self.index[c.id], process, time.time(), log, threads))
        self.pending.remove(c)
        print(f"[{self.index[c.id]}/{len(self.cells)}] {c.id}: started ({c.kind})", flush=True)

    def collect_finished(self) -> None:
        """Record every cell that ended: its JSON in results/, done or failed."""
        for r in list(self.running):
            rc = r.process.poll()
            if rc is None:
                continue
            self.running.remove(r)
            ok = rc == 0 and (Path(r.cell.output_dir) / "results.json").exists()
            data = record(r.cell, self.grid, "done" if ok else "failed", r.started, r.threads, r.log, rc)
            data["deps_started_at"] = {d: self.started_at.get(d) for d in r.cell.deps}  # which run of each it used
            path = result_path(self.results_dir, self.grid, r.cell.id)
            if ok and is_done(path):  # a rerun of lost outputs: the earlier record is kept, under superseded/
                keep_earlier_record(path)
            if ok or not is_done(path):  # a failed rerun leaves the earlier record (and the next run retries)
                write_json(path, data)
            self.started_at[r.cell.id] = data["started_at"]
            if ok:
                self.done.add(r.cell.id)
                self.estimator.add(r.cell.kind, data["duration_s"])
            else:
                self.failed.add(r.cell.id)
            status = "done" if ok else f"FAILED (exit {rc}; log {r.log})"
            print(f"[{r.index}/{len(self.cells)}] {r.cell.id}: {status} in {fmt(data['duration_s'])}; "
                  f"{self.done_count()}/{len(self.cells)} done, elapsed {fmt(time.time() - self.start)}, "
                  f"left {self.left()}", flush=True)

    def heartbeat(self) -> None:
        """Every HEARTBEAT_S, where each running cell is (from its progress.json)."""
        if not self.running or time.time() - self.last_beat <= HEARTBEAT_S:
            return
        self.last_beat = time.time()
        states = [" ".join(filter(None, [r.cell.id, fmt(time.time() - r.started), cell_progress(r.cell)]))
                  for r in self.running]
        print(f"  running: {'; '.join(states)} | elapsed {fmt(time.time() - self.start)}, left {self.left()}",
              flush=True)

    def request_stop(self, signum, frame):
        self.stop_signal = signum

    def stop_children(self, signum: int) -> int:
        for r in self.running:  # children run in their own process groups; end them with us
            try:
                os.killpg(r.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for r in self.running:
            try:
                r.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(r.process.pid, signal.SIGKILL)
        print(f"stopped by signal {signum}; rerun the same command to resume", flush=True)
        return 128 + signum


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--grid", required=True, choices=list(GRIDS))
    p.add_argument("--data_dir", default="../shared/data", help="local data folder laid out like ../shared/data")
    p.add_argument("--workdir", default="runs/experiments", help="checkpoints and logs (git-ignored)")
    p.add_argument("--results_dir", default=None,
                   help="one small JSON per finished cell (default: results/, committed; for the tiny grid, a smoke "
                        "test of the runner whose figures mean nothing, runs/results/, git-ignored)")
    p.add_argument("--jobs", type=int, default=2, help="cells run at once, each with one torch thread if > 1")
    p.add_argument("--only", default=None, help="regular expression: run only the cells whose id matches")
    p.add_argument("--list", action="store_true", help="list the cells and whether they are done; run nothing")
    args = p.parse_args(argv)
    if args.only:
        try:
            re.compile(args.only)
        except re.error as e:
            raise ArgumentError(f"--only {args.only!r}: not a regular expression ({e})") from None
    check_at_least(args, ("jobs",))
    data = Path(args.data_dir)
    if not data.is_dir():
        raise ArgumentError(f"--data_dir {args.data_dir}: no such folder (expected the layout of ../shared/data)")
    results_dir = args.results_dir or ("runs/results" if args.grid == "tiny" else "results")
    # The cells run in the repository's root; so does the runner, and every path it records is relative to it, so
    # that a recorded command runs from any checkout and names no machine's folders.
    data_dir, workdir, results_dir = (from_root(p) for p in (args.data_dir, args.workdir, results_dir))
    os.chdir(ROOT)
    return run_grid(args.grid, data_dir, workdir, Path(results_dir), args.jobs, args.only, args.list)


def from_root(path: str) -> str:
    """`path` (relative to the working directory, or absolute) as a path relative to the repository's root."""
    return os.path.relpath(os.path.abspath(path), ROOT)


if __name__ == "__main__":
    run_cli(main)
