"""Training a VAE by maximizing the (β-weighted) ELBO, fast and safely.

- The whole dataset lives on the device; each epoch is a seeded permutation and slices of
  it (no per-item ``Dataset``/``DataLoader``), with no host sync inside the epoch.
- CPU: the backward pass written out (:mod:`elbolab.vae.backprop`, no autograd graph) and fused
  Adam; subnormal floats flushed to zero during the training pass. CUDA: the
  whole step (forward, backward, Adam) is captured once as a CUDA graph and replayed
  (falls back to eager with a warning if capture fails; ``cuda_graph=False`` turns it off).
- Every epoch writes ``checkpoint.pt`` atomically (model, optimizer, RNG states, epoch,
  history) and ``metrics.jsonl``/``metrics.csv``; ``resume=True`` continues from it and, on
  the CPU, reproduces an uninterrupted run exactly.
- A NaN/inf loss stops training with :class:`TrainingDiverged` and leaves the last good
  checkpoint in place; Ctrl-C writes ``interrupted.pt`` before exiting.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from .. import __version__
from ..elbo import ELBOFramework
from ..gradients import surrogate_objective
from ..io import atomic_write_json, folder_lock
from ..kl import standard_normal_kl_per_dim
from . import backprop
from .checkpoint import (
    CHECKPOINT,
    CONFIG,
    INTERRUPTED,
    check_same_config,
    claim_run_folder,
    load_checkpoint,
    save_checkpoint,
    write_metrics,
)
from .config import TrainConfig, compute_dtype, learning_rate, uses_surrogate
from .data import DATASETS, ImageData, binarize, binarize_split, load_dataset
from .device import resolve_device
from .evaluation import evaluate_elbo, iwae_per_example
from .models import ModelSpec, build_model, preset_spec
from .objectives import Objective


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


@dataclass
class TrainResult:
    """History (one dict per epoch), the model, and where things were written."""

    model: ELBOFramework
    history: list[dict] = field(default_factory=list)
    out_dir: Path | None = None
    resumed_from: int = 0


class _StepClock:
    """Seconds spent training, over one or more start/stop spans. On the CPU it also flushes
    subnormal floats to zero while running (on the calling thread; the default is restored at
    each stop): Adam's moment estimates of never-active weights (MNIST's blank border pixels)
    decay geometrically into subnormals, which many x86 CPUs process far slower. On this
    project's AMD Zen 4 VM it saves 1–6% of an epoch of the ``example`` model (epochs 1–5,
    with and without, interleaved). On CUDA it synchronizes at both ends so the span covers
    the queued work."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.seconds, self._t0 = device, 0.0, None

    def start(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        elif self.device.type == "cpu":
            torch.set_flush_denormal(True)
        self._t0 = time.perf_counter()

    def stop(self) -> None:
        if self._t0 is None:
            return
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        self.seconds += time.perf_counter() - self._t0
        self._t0 = None
        if self.device.type == "cpu":
            torch.set_flush_denormal(False)


@dataclass
class RunData:
    """The images a run trains and is evaluated on, already on its device (and binarized as
    its config says), with their labels, the dataset's name and the image shape."""

    name: str
    image_shape: tuple[int, int] | None
    train_x: torch.Tensor
    test_x: torch.Tensor
    train_labels: torch.Tensor
    test_labels: torch.Tensor


def prepare_data(config: TrainConfig, device: torch.device | str = "cpu", *,
                 train: ImageData | None = None, test: ImageData | None = None) -> RunData:
    """Load (unless given) the config's dataset, keep its subsets, move it to ``device`` and
    binarize it: the test set once with :func:`~elbolab.vae.data.binarize_test_set`, the
    training set once (``static``) or every epoch in the trainer (``dynamic``)."""
    cfg, device = config, resolve_device(device)
    train = train or load_dataset(cfg.dataset, "train", cfg.data_dir)
    # when the training split fell back (and said so), the test split is the same fallback
    test = test or load_dataset(train.name if train.name in DATASETS else cfg.dataset, "test",
                                cfg.data_dir)
    train_x = train.images[: cfg.train_subset].to(device)
    test_x = test.images[: cfg.test_subset].to(device)
    train_x, test_x = binarize_split(train_x, test_x, cfg.binarize, cfg.seed)
    return RunData(train.name, train.shape, train_x, test_x, train.labels[: cfg.train_subset],
                   test.labels[: cfg.test_subset])


def build_run_model(config: TrainConfig, data_dim: int,
                    device: torch.device | str = "cpu") -> tuple[ModelSpec, ELBOFramework]:
    """The config's preset for ``data_dim`` inputs, initialized from ``config.seed``."""
    spec = preset_spec(config.preset, data_dim=data_dim, latent=config.latent,
                       likelihood=config.likelihood,
                       flow_layers=config.flow_layers if config.posterior == "flow" else 0)
    torch.manual_seed(config.seed)
    return spec, build_model(spec).to(resolve_device(device))


def budgeted_epochs(history: list[dict], epochs: int, max_minutes: float) -> int:
    """The epoch count a run with a time budget ends at, from its epochs so far: it stops
    before an epoch that, if as long as the longest so far, would take the summed
    ``train_seconds`` past ``max_minutes``; so n more epochs fit where
    spent + n·longest <= 60·max_minutes. Never fewer than the epochs done, never more than
    ``epochs``."""
    done = len(history)
    if done == 0:
        return epochs
    spent = sum(h["train_seconds"] for h in history)
    longest = max(h["train_seconds"] for h in history)
    more = math.floor((60 * max_minutes - spent) / longest) if longest > 0 else epochs
    return max(done, min(epochs, done + max(more, 0)))


class Trainer:
    """Trains ``model`` (built from ``spec``) on ``data`` as ``config`` says, writing into
    ``out_dir``; call :meth:`fit`. :meth:`from_config` loads the data and builds the model."""

    def __init__(
        self,
        config: TrainConfig,
        out_dir: str | Path,
        data: RunData,
        spec: ModelSpec,
        model: ELBOFramework,
        *,
        progress: bool = True,
        log: Callable[[str], None] | None = None,
    ) -> None:
        cfg = self.config = config
        self.out_dir = Path(out_dir)
        self.progress = progress
        self.log = log or (lambda s: None)
        self.device = resolve_device(config.device)
        self.data, self.spec, self.model = data, spec, model
        # the iwae objective and the path-derivative estimators train through autograd
        self.surrogate = uses_surrogate(cfg.objective.kind, cfg.gradient)
        if cfg.backward == "explicit" and not backprop.supports(self.model):
            raise ValueError(f"backward='explicit' supports MLP models with ReLU or tanh, not "
                             f"arch={self.spec.arch!r} with {self.spec.activation!r}; use "
                             f"'autograd'")
        self.explicit = cfg.backward == "explicit" or (
            cfg.backward == "auto" and self.device.type == "cpu" and not self.surrogate
            and backprop.supports(self.model))
        self.gen = torch.Generator(device=self.device).manual_seed(cfg.seed)
        self.opt = self._make_optimizer()
        self._graph = None
        self.objective: Objective = cfg.objective
        self.step = 0  # optimizer steps so far (the objectives' schedules count them)
        self.compute_dtype = compute_dtype(cfg.precision)

    @classmethod
    def from_config(cls, config: TrainConfig, out_dir: str | Path, *,
                    train: ImageData | None = None, test: ImageData | None = None,
                    progress: bool = True,
                    log: Callable[[str], None] | None = None) -> Trainer:
        """:func:`prepare_data` and :func:`build_run_model`, then the trainer. When the
        config's dataset was absent and the loader fell back to the 8×8 digits, the run's
        config says ``dataset: digits`` (what it trains on), and ``log`` says so."""
        data = prepare_data(config, config.device, train=train, test=test)
        if train is None and data.name != config.dataset:
            (log or (lambda s: None))(f"{config.dataset} is not available: this run trains on "
                                      f"{data.name} and its config says so")
            config = replace(config, dataset=data.name)
        spec, model = build_run_model(config, data.train_x.shape[1], config.device)
        return cls(config, out_dir, data, spec, model, progress=progress, log=log)

    @property
    def train_x(self) -> torch.Tensor:
        return self.data.train_x

    @property
    def test_x(self) -> torch.Tensor:
        return self.data.test_x

    # -- set-up -----------------------------------------------------------------------------
    def _make_optimizer(self) -> torch.optim.Optimizer:
        cuda = self.device.type == "cuda"
        kwargs: dict = {"eps": self.config.adam_eps}
        if cuda and self.config.cuda_graph:
            # a tensor lr can be changed after capture; capturable keeps the step on device
            kwargs.update(lr=torch.tensor(self.config.lr, device=self.device), capturable=True,
                          fused=True)
        else:
            kwargs.update(lr=self.config.lr, fused=self.device.type in ("cpu", "cuda"))
        return torch.optim.Adam(self.model.parameters(), **kwargs)

    def _set_lr(self, lr: float) -> None:
        for group in self.opt.param_groups:
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr

    # -- one step -------------------------------------------------------------------------------
    def _objective(self, x: torch.Tensor, generator: torch.Generator | None):
        """(loss = −objective's batch mean, reconstruction sum, KL sum) of one batch, through
        autograd: the analytic-KL β-ELBO, or :func:`~elbolab.gradients.surrogate_objective`
        (the k-sample bound with the config's gradient estimator)."""
        cfg, model = self.config, self.model
        with torch.autocast(self.device.type, dtype=torch.bfloat16,
                            enabled=self.compute_dtype is not None):
            if self.surrogate:
                q = model.posterior(x)
                res = surrogate_objective(lambda z: model.log_likelihood(x, z), q.mu.float(),
                                          q.logvar.float(), cfg.k, gradient=cfg.gradient,
                                          beta=cfg.beta, generator=generator, validate=False)
                return -res.objective.mean(), res.reconstruction.sum(), res.kl.sum()
            res = model.compute_elbo(x, generator=generator)
        objective = res.reconstruction - cfg.beta * res.kl
        return -objective.mean(), res.reconstruction.sum(), res.kl.sum()

    def _objective_step(self, x: torch.Tensor):
        """One step of a warm-up, free-bits or capacity objective (eager; explicit backward or
        autograd). The KL weights are functions of this batch's mean KL per latent unit and of
        the step, held constant in the gradient."""
        betas = torch.tensor([self.config.beta], device=self.device)
        step, penalty = self.step, {}

        def weights(kl_mean: torch.Tensor) -> torch.Tensor:
            w, pen = self.objective.kl_weights(kl_mean.unsqueeze(0), betas, step)
            penalty["value"] = pen[0]
            return w[0]

        if self.explicit:
            rec, kl_dims = backprop.elbo_gradients_per_dim(
                self.model, x, weights, generator=self.gen, compute_dtype=self.compute_dtype)
        else:
            with torch.autocast(self.device.type, dtype=torch.bfloat16,
                                enabled=self.compute_dtype is not None):
                res = self.model.compute_elbo(x, generator=self.gen)
            kl_b = standard_normal_kl_per_dim(res.mu.float(), res.logvar.float(), validate=False)
            w = weights(kl_b.detach().mean(0))
            loss = (-res.reconstruction.float() + (kl_b * w).sum(-1)).mean()
            self.opt.zero_grad(set_to_none=False)
            loss.backward()
            rec, kl_dims = res.reconstruction.detach().float().sum(), kl_b.detach().sum(0)
        self.opt.step()
        return len(x) * penalty["value"] - rec, rec, kl_dims.sum()

    def _eager_step(self, x: torch.Tensor):
        if self.objective.kind not in ("beta", "iwae"):
            return self._objective_step(x)
        if self.explicit:
            out = backprop.elbo_gradients(self.model, x, beta=self.config.beta,
                                          generator=self.gen, compute_dtype=self.compute_dtype)
            self.opt.step()
            return out
        loss, rec, kl = self._objective(x, self.gen)
        self.opt.zero_grad(set_to_none=False)
        loss.backward()
        self.opt.step()
        return loss.detach() * len(x), rec.detach(), kl.detach()

    def _capture(self, first_batches: list[torch.Tensor]) -> torch.Tensor:
        """Capture forward+backward+Adam as one CUDA graph. The warm-up steps (on a side
        stream, as CUDA graphs require) train on the given real batches; their summed
        (loss, reconstruction, KL) are returned. Randomness inside the graph comes from the
        default CUDA generator (seeded from the config), whose offsets each replay advances."""
        self._static_x = first_batches[0].clone()
        totals = torch.zeros(3, device=self.device)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for xb in first_batches:
                self._static_x.copy_(xb)
                loss, rec, kl = self._objective(self._static_x, None)
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                self.opt.step()
                totals += torch.stack([loss.detach() * len(xb), rec.detach(), kl.detach()])
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        self.opt.zero_grad(set_to_none=True)
        with torch.cuda.graph(graph):
            loss, rec, kl = self._objective(self._static_x, None)
            loss.backward()
            self.opt.step()
        self._static_out = torch.stack([loss.detach() * len(self._static_x), rec.detach(),
                                        kl.detach()])
        self._graph = graph
        return totals

    # -- epochs ---------------------------------------------------------------------------------
    def _train_epoch(self, epoch: int, chunk: int | None) -> Generator[None, None, dict]:
        cfg, x_all, bs = self.config, self.train_x, self.config.batch_size
        clock = _StepClock(self.device)
        clock.start()
        try:
            perm = torch.randperm(len(x_all), generator=self.gen, device=self.device)
            use_graph = (self.device.type == "cuda" and cfg.cuda_graph and not self.explicit
                         and self.objective.kind in ("beta", "iwae"))
            # a captured graph has one batch shape: the ragged last batch is dropped (the data
            # are reshuffled every epoch, so every example is still used)
            n_batches = len(x_all) // bs if use_graph else math.ceil(len(x_all) / bs)
            index = perm[:n_batches * bs].split(bs)

            def batch(i: int) -> torch.Tensor:
                # gathered (and dynamically binarized) one batch at a time, while in cache
                xb = x_all[index[i]]
                return binarize(xb, self.gen, validate=False) if cfg.binarize == "dynamic" else xb

            sums: list[torch.Tensor] = []  # per-step (loss, rec, kl) sums, stacked at the end
            i = 0
            if use_graph and self._graph is None:
                n_warm = min(3, n_batches)
                try:
                    sums.append(self._capture([batch(j) for j in range(n_warm)]))
                    i = n_warm
                except RuntimeError as exc:  # pragma: no cover - depends on the GPU stack
                    warnings.warn(f"CUDA graph capture failed ({exc}); training eagerly",
                                  stacklevel=2)
                    self.config.cuda_graph = use_graph = False
                    self._graph = None
                    self.opt = self._make_optimizer()
            self.step += i
            for j in range(i, n_batches):
                self.step += 1
                if use_graph:
                    self._static_x.copy_(batch(j))
                    self._graph.replay()
                    sums.append(self._static_out.clone())
                else:
                    sums.append(torch.stack(self._eager_step(batch(j))))
                if chunk and (j + 1) % chunk == 0 and j + 1 < n_batches:
                    clock.stop()
                    yield
                    clock.start()
            totals = torch.stack(sums).sum(0)
            clock.stop()
            n_seen = min(n_batches * bs, len(x_all))
            loss_sum, rec_sum, kl_sum = totals.tolist()
            if not all(math.isfinite(v) for v in (loss_sum, rec_sum, kl_sum)):
                raise TrainingDiverged(
                    f"the training loss became NaN or infinite in epoch {epoch + 1}; the last "
                    f"good checkpoint ({self.out_dir / CHECKPOINT}, epoch {epoch}) is kept. "
                    f"Try a smaller --lr (now {learning_rate(cfg, epoch):g}).")
            return {"train_loss": loss_sum / n_seen,
                    "train_reconstruction": rec_sum / n_seen, "train_kl": kl_sum / n_seen,
                    "train_elbo": (rec_sum - kl_sum) / n_seen,
                    "train_seconds": clock.seconds}
        finally:
            clock.stop()

    def _evaluate(self) -> dict:
        """The test ELBO (analytic KL, one z per image); with the iwae objective also the test
        bound it trains, L_k with the run's k (``test_iwae``), and then ``test_loss`` is −L_k."""
        ev = evaluate_elbo(self.model, self.test_x,
                           generator=torch.Generator(device=self.device).manual_seed(12345))
        row = {"test_elbo": ev["elbo"], "test_reconstruction": ev["reconstruction"],
               "test_kl": ev["kl"], "test_loss": -ev["elbo"]}
        if self.objective.kind == "iwae":
            gen = torch.Generator(device=self.device).manual_seed(12346)
            bound = iwae_per_example(self.model, self.test_x, self.config.k, batch_size=500,
                                     chunk_size=min(self.config.k, 100), generator=gen)
            row.update(test_iwae=bound.double().mean().item(), test_loss=-bound.mean().item())
        return row

    # -- checkpoints ----------------------------------------------------------------------------
    def _save(self, path: Path, epoch: int, history: list[dict], **extra) -> None:
        save_checkpoint(path, {
            "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
            "epoch": epoch, "step": self.step, "generator": self.gen.get_state(),
            "cuda_rng": torch.cuda.get_rng_state() if self.device.type == "cuda" else None,
            "history": history, "config": self.config.to_dict(), "spec": self.spec.to_dict(),
            "elbolab": __version__, **extra,
        })

    def _load(self) -> tuple[int, list[dict]]:
        path = self.out_dir / CHECKPOINT
        if not path.exists():  # a run stopped before its first checkpoint: start it afresh
            saved = self.out_dir / CONFIG
            if not saved.exists():  # killed before it wrote anything: start it
                self.log(f"{self.out_dir}: nothing to resume (neither {CHECKPOINT} nor "
                         f"{CONFIG}): starting the run from epoch 1")
                return 0, []
            try:
                saved_config = json.loads(saved.read_text())
            except (OSError, ValueError) as exc:
                raise ValueError(f"{saved}: cannot be read ({exc})") from None
            check_same_config(saved_config, self.config.to_dict(), saved)
            self.log(f"{self.out_dir} holds the run's {CONFIG} but no {CHECKPOINT} (it stopped "
                     "before its first epoch ended): starting it from epoch 1 with that config")
            return 0, []
        state = load_checkpoint(path, self.device, self.config.to_dict())
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.gen.set_state(state["generator"].cpu() if self.device.type == "cpu"
                           else state["generator"])
        if state.get("cuda_rng") is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"].cpu())
        self.step = int(state.get("step", 0))
        # older checkpoints (CHANGELOG, 0.2.0) call an epoch's training seconds "seconds"
        history = [{("train_seconds" if k == "seconds" else k): v for k, v in h.items()}
                   for h in state["history"]]
        return int(state["epoch"]), history

    # -- the loop -------------------------------------------------------------------------------
    def run_epoch(self, epoch: int) -> dict:
        """Train one epoch (0-based index, which sets the learning rate) and evaluate on the
        test set; returns the epoch's metrics. :meth:`fit` calls it; benchmarks can too."""
        steps = self.epoch_steps(epoch)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                return done.value

    def epoch_steps(self, epoch: int, chunk: int | None = None) -> Generator[None, None, dict]:
        """:meth:`run_epoch` as a generator that pauses after every ``chunk`` optimizer steps
        and returns the same metrics (as ``StopIteration.value``). Its ``train_seconds`` count only
        the time spent inside it (the device synchronized at each pause), so a benchmark can
        run two training loops in alternating chunks and drift in the machine's speed hits
        both alike (``benchmarks/bench_training.py``)."""
        lr = learning_rate(self.config, epoch)
        self._set_lr(lr)
        self.model.train()
        row = {"epoch": epoch + 1, "lr": lr, **(yield from self._train_epoch(epoch, chunk))}
        self.model.eval()
        with torch.no_grad():
            row.update(self._evaluate())
        return row

    def fit(self, *, resume: bool = False, overwrite: bool = False) -> TrainResult:
        """Train for ``config.epochs`` epochs (from the checkpoint if ``resume``), or fewer
        when ``config.max_minutes`` of training time would be exceeded: training stops after
        the first epoch past which one more epoch, as long as the longest so far, would not
        fit (a later epoch that runs slower can still overshoot).

        The run folder holds one run: a folder that already holds one is continued with
        ``resume`` (from its checkpoint, or from the beginning if it stopped before its first
        checkpoint, with the saved config either way) or replaced with ``overwrite``, and
        otherwise refused (:class:`~elbolab.vae.checkpoint.RunExists`); while training, the
        folder is locked (:func:`~elbolab.io.folder_lock`): a second trainer on it raises
        :class:`~elbolab.io.FolderBusy` at once."""
        with folder_lock(self.out_dir):
            claim_run_folder(self.out_dir, resume=resume, overwrite=overwrite)
            return self._fit(resume)

    def _fit(self, resume: bool) -> TrainResult:
        from tqdm import tqdm  # text bars everywhere (no Jupyter widget, no ipywidgets warning)

        start_epoch, history = self._load() if resume else (0, [])
        if history:  # a kill between the checkpoint and the metrics left these one behind
            write_metrics(self.out_dir, history)
        atomic_write_json(self.out_dir / CONFIG,
                          {**self.config.to_dict(), "spec": self.spec.to_dict(),
                           "data": self.data.name})
        if self.device.type == "cuda":
            torch.cuda.manual_seed(self.config.seed + start_epoch)
        # counted by hand (not by iterating the bar, whose count lags until it next draws):
        # the bar always ends on the epochs done
        bar = tqdm(initial=start_epoch, total=self.config.epochs, desc="train", unit="epoch",
                   disable=not self.progress)
        epoch = start_epoch
        try:
            for epoch in range(start_epoch, self.config.epochs):
                row = self.run_epoch(epoch)
                history.append(row)
                self._save(self.out_dir / CHECKPOINT, epoch + 1, history)
                write_metrics(self.out_dir, history)
                bar.set_postfix(train=f"{row['train_loss']:.2f}", test=f"{row['test_loss']:.2f}",
                                s=f"{row['train_seconds']:.2f}", refresh=False)
                bar.update(1)
                budget = self.config.max_minutes
                if budget is not None:
                    last = budgeted_epochs(history, self.config.epochs, budget)
                    if last != bar.total:  # the bar's ETA counts the epochs the budget allows
                        bar.total = last
                        bar.refresh()
                    if last <= epoch + 1:
                        spent = sum(h["train_seconds"] for h in history)
                        self.log(f"time budget of {budget:g} min: stopping after epoch "
                                 f"{epoch + 1} ({spent:.1f} s of training)")
                        break
        except KeyboardInterrupt:
            self._save(self.out_dir / INTERRUPTED, epoch, history, interrupted=True)
            self.log(f"interrupted in epoch {epoch + 1}: state saved to "
                     f"{self.out_dir / 'interrupted.pt'}; --resume continues from "
                     f"{self.out_dir / CHECKPOINT} (epoch {epoch})")
            raise
        finally:
            bar.close()
        return TrainResult(self.model, history, self.out_dir, start_epoch)


__all__ = ["RunData", "TrainResult", "Trainer", "TrainingDiverged", "budgeted_epochs",
           "build_run_model", "prepare_data"]
