r"""Part 5 at scale: β × seed × objective × dataset grids, with error bars across seeds.

One **trial** is one (dataset, seed, objective) group; its β values train all at once on one
device (:func:`~elbolab.vae.sweep.train_sweep`, through
:class:`~elbolab.parts.two_forces.TwoForcesAnalysis`). The **grid** is the set of trials. Trials
run one after another in this process, or on a Ray cluster (``ray=`` an address, ``"local"``
for a local instance) one trial per worker.

Nothing is lost and nothing is redone: each finished trial is written atomically to
``out/trials/<id>.json`` as soon as it ends; running the same grid again loads those and runs
only the others; a trial that raises is reported with its error and the others go on.
Ray and in-process numbers are identical when the trials run with the same number of torch
threads (``threads``; the defaults differ: all cores in this process, one per Ray worker).

Across seeds, :func:`aggregate` gives each (dataset, objective, β) the mean and standard error
:math:`s/\sqrt n` (sample standard deviation, :math:`n-1`) of the rate, distortion, −ELBO,
importance-sampled log p(x) and active units; with one seed the standard error is NaN (not
estimable), never 0.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..io import atomic_write_json
from ..settings import (
    ConfigError,
    check_setting_choice,
    check_setting_count,
    check_setting_number,
    option,
)
from ..vae.config import SweepConfig
from ..vae.data import DATASETS, DataError
from ..vae.objectives import OBJECTIVES

#: The quantities :func:`aggregate` averages over seeds: (name in the aggregate, how to get it
#: from a trial's row). Rate R = KL, distortion D = −E_q log p(x|z), both nats per image.
AGGREGATED = (
    ("rate", lambda r: r["kl"]),
    ("distortion", lambda r: -r["reconstruction"]),
    ("neg_elbo", lambda r: -r["elbo"]),
    ("log_px", lambda r: r["log_px"]),
    ("active_units", lambda r: float(r["active_units"])),
    ("informative_units", lambda r: float(r["informative_units"])),
)


@dataclass
class GridConfig:
    """The axes of a grid beside the β values of :class:`~elbolab.vae.config.SweepConfig`; an
    empty axis means "the sweep config's one value" (``--seed``, ``--objective``,
    ``--dataset``). ``threads``: torch threads per trial (Ray reserves that many CPUs for it;
    ``None``: torch's default in this process, 1 on Ray); ``gpus_per_trial``: the GPU fraction
    a Ray trial asks for when CUDA is present."""

    seeds: tuple[int, ...] = option((), "seeds, comma-separated: one trial each (default: --seed)",
                                    type=int)
    objectives: tuple[str, ...] = option(
        (), f"objectives, comma-separated, of {', '.join(OBJECTIVES)} (default: --objective)",
        type=str)
    datasets: tuple[str, ...] = option(
        (), f"datasets, comma-separated, of {', '.join(DATASETS)} (default: --dataset)", type=str)
    threads: int | None = option(None, "torch threads (CPUs) per trial (default: all in this "
                                       "process, 1 per Ray worker)", type=int)
    gpus_per_trial: float = option(0.5, "GPU fraction a Ray trial asks for when CUDA is present")

    def __post_init__(self) -> None:
        self.seeds = tuple(self.seeds)
        self.objectives, self.datasets = tuple(self.objectives), tuple(self.datasets)
        for name, values, allowed in (("objectives", self.objectives, OBJECTIVES),
                                      ("datasets", self.datasets, DATASETS)):
            for v in values:
                check_setting_choice(name, v, allowed)
        for name in ("seeds", "objectives", "datasets"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                shown = ",".join(map(str, values))
                raise ConfigError(name, f"must not repeat a value, got {shown}")
        for seed in self.seeds:
            check_setting_count("seeds", seed, minimum=0)
        check_setting_count("threads", self.threads, optional=True)
        check_setting_number("gpus_per_trial", self.gpus_per_trial, minimum=0.0, maximum=1.0)


@dataclass(frozen=True)
class Trial:
    """One (dataset, seed, objective) group of the grid and the sweep config it runs."""

    dataset: str
    seed: int
    objective: str
    config: SweepConfig = field(compare=False)

    @property
    def id(self) -> str:
        return f"{self.dataset}-{self.objective}-seed{self.seed}"


def grid_axes(base: SweepConfig, grid: GridConfig) -> dict[str, list]:
    """The grid's axes as run: ``datasets``, ``objectives``, ``seeds`` (an empty axis of
    ``grid`` is ``base``'s one value)."""
    return {"datasets": list(grid.datasets or (base.dataset,)),
            "objectives": list(grid.objectives or (base.objective.kind,)),
            "seeds": list(grid.seeds or (base.seed,))}


def make_trials(base: SweepConfig, grid: GridConfig) -> list[Trial]:
    """The grid's trials, datasets outermost, then objectives, then seeds; each trial's config
    is ``base`` with that dataset, seed and objective kind (the objective's other settings,
    e.g. ``free_bits``, from ``base``)."""
    out = []
    axes = grid_axes(base, grid)
    for dataset in axes["datasets"]:
        for kind in axes["objectives"]:
            for seed in axes["seeds"]:
                objective = dataclasses.replace(base.objective, kind=kind)
                cfg = dataclasses.replace(base, dataset=dataset, seed=seed, objective=objective)
                out.append(Trial(dataset, seed, kind, cfg))
    return out


def analyze_trial(config: dict, threads: int | None = None):
    """Run one trial from its config (a :meth:`SweepConfig.to_dict`) with ``threads`` torch
    threads (``None``: as they are): the :class:`~elbolab.parts.two_forces.TwoForcesResult`
    (models included)."""
    import torch

    from .two_forces import TwoForcesAnalysis

    cfg = SweepConfig(**config)
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads or before))
    try:
        return TwoForcesAnalysis(cfg).analyze_beta_vae(cfg.dataset)
    finally:
        torch.set_num_threads(before)


def run_trial(config: dict, threads: int | None = None, *, keep: list | None = None) -> dict:
    """:func:`analyze_trial`'s JSON-ready result (:meth:`TwoForcesResult.to_dict`) with the
    trial's wall time (``wall_seconds``: training and measurements): the function a Ray worker
    runs, with the same numbers in this process for the same config and threads. ``keep``, a
    list, receives the :class:`~elbolab.parts.two_forces.TwoForcesResult` itself (in this
    process only: its models are not sent back from a worker)."""
    start = time.perf_counter()
    result = analyze_trial(config, threads)
    if keep is not None:
        keep.append(result)
    return {**result.to_dict(), "wall_seconds": time.perf_counter() - start}


def _config_dict(cfg: SweepConfig) -> dict:
    """The trial's config as JSON would give it back (tuples as lists)."""
    return json.loads(json.dumps(cfg.to_dict()))


@dataclass
class GridResult:
    """What a grid run ended with: the finished trials' records (``{"id", "dataset", "seed",
    "objective", "config", "result"}``, in grid order), which of them were loaded from an
    earlier run (``skipped``), the trials that failed (``{"id", "error"}``), and the seconds.
    :func:`aggregate` of ``trials`` gives the error bars."""

    trials: list[dict]
    skipped: list[str]
    failed: list[dict]
    seconds: float


def trial_path(out: str | os.PathLike[str], trial: Trial) -> Path:
    """Where a finished trial is written: ``out/trials/<id>.json``."""
    return Path(out) / "trials" / f"{trial.id}.json"


#: What a sweep writes into its folder (files, then folders): what ``clear_grid`` removes
GRID_FILES = ("sweep.json", "sweep.md")
GRID_FOLDERS = ("trials", "figures")


def clear_grid(out: str | os.PathLike[str]) -> None:
    """Remove a sweep's outputs from ``out`` (:data:`GRID_FILES`, :data:`GRID_FOLDERS`),
    leaving anything else in the folder: ``elbolab sweep --overwrite``."""
    for name in GRID_FILES:
        (Path(out) / name).unlink(missing_ok=True)
    for name in GRID_FOLDERS:
        shutil.rmtree(Path(out) / name, ignore_errors=True)


def _load_finished(path: Path, trial: Trial) -> dict | None:
    """The earlier run's record of ``trial``, or ``None`` when there is none. A record made
    with other settings is an error (it would be mixed into this grid's error bars)."""
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
        saved = record["config"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a finished trial ({exc}); delete it to run the trial "
                         "again") from None
    wanted = _config_dict(trial.config)
    if saved != wanted:
        diff = sorted(k for k in wanted if saved.get(k) != wanted[k])
        raise ValueError(f"{path} was made with other settings ({', '.join(diff)} differ); "
                         "use another --out, or replace the folder's sweep with --overwrite")
    return record


def run_grid(
    base: SweepConfig, grid: GridConfig, out: str | os.PathLike[str], *,
    ray: str | None = None, progress: bool = False,
    on_trial: Callable[[Trial, dict | None, str | None], None] | None = None,
    runner: Callable[[dict, int | None], dict] = run_trial,
) -> GridResult:
    """Run every trial of the grid not already finished in ``out`` (see the module docstring):
    in this process (``ray=None``) or on Ray (``"local"``: a local instance; ``"auto"`` or an
    address: an existing cluster). ``on_trial(trial, record, error)`` is called as each trial
    ends (``record`` None when it failed; ``error`` None when it did not). Ray trials ask for
    ``grid.threads`` CPUs (1 when unset) and, when CUDA is present, ``grid.gpus_per_trial`` of
    a GPU.
    ``runner`` is the trial function (:func:`run_trial`; tests pass another)."""
    from tqdm import tqdm  # text bars everywhere (no Jupyter widget, no ipywidgets warning)

    start = time.perf_counter()
    trials = make_trials(base, grid)
    records: dict[str, dict] = {}
    skipped: list[str] = []
    for t in trials:
        record = _load_finished(trial_path(out, t), t)
        if record is not None:
            records[t.id] = record
            skipped.append(t.id)
    todo = [t for t in trials if t.id not in records]
    failed: list[dict] = []
    bar = tqdm(total=len(trials), initial=len(skipped), desc="grid", unit="trial",
               disable=not progress)

    def finish(t: Trial, result: dict | None, error: str | None) -> None:
        record = None
        if error is None:
            record = {"id": t.id, "dataset": t.dataset, "seed": t.seed, "objective": t.objective,
                      "config": _config_dict(t.config), "result": result}
            atomic_write_json(trial_path(out, t), record)
            records[t.id] = record
        else:
            failed.append({"id": t.id, "error": error})
        bar.update(1)
        if on_trial is not None:
            on_trial(t, record, error)

    try:
        if ray is None:
            for t in todo:
                try:
                    result = runner(_config_dict(t.config), grid.threads)
                except DataError:  # the data, not the trial: every trial on it would fail
                    raise
                except Exception as exc:  # one trial's failure must not sink the others
                    finish(t, None, _error_text(exc))
                else:
                    finish(t, result, None)
        else:
            _run_on_ray(todo, grid, ray, runner, finish)
    finally:
        bar.close()
    return GridResult([records[t.id] for t in trials if t.id in records], skipped, failed,
                      time.perf_counter() - start)


def _error_text(exc: BaseException) -> str:
    """``Type: first line of the message`` and the line that raised it, where known."""
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    first = (str(exc).splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}{where}"


def import_ray():
    """``ray``, or an ImportError that names the extra to install."""
    try:
        import ray
    except ImportError:
        raise ImportError("--ray needs Ray: pip install 'elbolab[ray]'") from None
    return ray


def _run_on_ray(todo: Sequence[Trial], grid: GridConfig, address: str,
                runner: Callable[[dict, int | None], dict],
                finish: Callable[[Trial, dict | None, str | None], None]) -> None:
    """Submit one Ray task per trial and report each as it finishes (``ray.wait``)."""
    import torch

    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        if address == "local":
            ray.init(include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        gpus = grid.gpus_per_trial if torch.cuda.is_available() else 0
        threads = grid.threads or 1
        task = ray.remote(num_cpus=threads, num_gpus=gpus, max_retries=0)(runner)
        pending = {task.remote(_config_dict(t.config), threads): t for t in todo}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            t = pending.pop(done[0])
            try:
                result = ray.get(done[0])
            except Exception as exc:  # RayTaskError wraps the trial's own exception
                cause = getattr(exc, "cause", None) or exc
                if isinstance(cause, DataError):  # the data, not the trial: stop the grid
                    raise cause from None
                finish(t, None, _error_text(cause))
            else:
                finish(t, result, None)
    finally:
        if started_here:
            ray.shutdown()


def aggregate(records: Sequence[dict]) -> list[dict]:
    """Mean and standard error across seeds for every (dataset, objective, β) of finished
    trial records (:attr:`GridResult.trials`): one row each with ``dataset``, ``objective``,
    ``beta``, ``n_seeds``, ``seeds`` and, for each quantity of :data:`AGGREGATED`,
    ``<name>_mean`` and ``<name>_se`` (:math:`s/\\sqrt n` with the :math:`n-1` sample standard
    deviation; NaN for one seed). Rows in order of first appearance."""
    groups: dict[tuple, list[tuple[int, dict]]] = {}
    for rec in records:
        for row in rec["result"]["rows"]:
            key = (rec["dataset"], rec["objective"], float(row["beta"]))
            groups.setdefault(key, []).append((rec["seed"], row))
    out = []
    for (dataset, objective, beta), members in groups.items():
        agg = {"dataset": dataset, "objective": objective, "beta": beta,
               "n_seeds": len(members), "seeds": [s for s, _ in members]}
        for name, get in AGGREGATED:
            mean, se = mean_and_se([get(r) for _, r in members])
            agg[f"{name}_mean"], agg[f"{name}_se"] = mean, se
        out.append(agg)
    return out


def mean_and_se(values: Sequence[float]) -> tuple[float, float]:
    """The mean of ``values`` and its standard error :math:`s/\\sqrt n` (:math:`n-1` in
    :math:`s`); NaN when ``n < 2`` (one seed says nothing about the spread)."""
    n = len(values)
    if n == 0:
        raise ValueError("values must not be empty")
    mean = math.fsum(values) / n
    if n < 2:
        return mean, math.nan
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


__all__ = ["AGGREGATED", "GRID_FILES", "GRID_FOLDERS", "GridConfig", "GridResult", "Trial",
           "aggregate", "analyze_trial", "clear_grid", "grid_axes",
           "import_ray", "make_trials", "mean_and_se", "run_grid", "run_trial", "trial_path"]
