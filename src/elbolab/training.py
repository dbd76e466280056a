"""Training a VAE by maximizing the (β-weighted) ELBO, fast and safely.

- The whole dataset lives on the device; each epoch is a seeded permutation and slices of
  it (no per-item ``Dataset``/``DataLoader``), with no host sync inside the epoch.
- CPU: the backward pass written out (:mod:`elbolab.backprop`, no autograd graph) and fused
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

import csv
import io
import json
import math
import time
import warnings
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from . import __version__, backprop
from .data import BINARIZE, ImageData, binarize, load_dataset, static_binarization
from .device import resolve_device
from .elbo import ELBOFramework
from .evaluation import evaluate_elbo
from .io import atomic_path, atomic_write_json, atomic_write_text
from .kl import gaussian_kl
from .models import ModelSpec, build_model, preset_spec
from .objectives import Objective

LR_SCHEDULES = ("constant", "exponential", "iwae")
BACKWARDS = ("auto", "autograd", "explicit")
PRECISIONS = ("float32", "bfloat16")
CHECKPOINT = "checkpoint.pt"


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved as ``config.json`` and in checkpoints)."""

    dataset: str = "mnist"
    preset: str = "example"
    likelihood: str = "bernoulli"
    latent: int | None = None
    epochs: int = 10
    # a training-time budget in minutes (summed epoch "seconds": training steps only): stop
    # before `epochs` when one more epoch, as long as the longest so far, would exceed it
    max_minutes: float | None = None
    batch_size: int = 128
    lr: float = 1e-3
    lr_schedule: str = "constant"
    lr_decay: float = 0.95  # per epoch, for the exponential schedule
    adam_eps: float = 1e-8
    beta: float = 1.0
    binarize: str = "none"
    device: str = "auto"
    seed: int = 0
    data_dir: str | None = None
    train_subset: int | None = None
    test_subset: int | None = None
    cuda_graph: bool = True
    # "explicit": the written-out backward pass of elbolab.backprop (MLP models only);
    # "auto" uses it on the CPU when the model allows, autograd elsewhere
    backward: str = "auto"
    # "bfloat16": matrix products in bfloat16 (mixed precision; parameters, optimizer and
    # elementwise math stay float32). Through autocast on the autograd path.
    precision: str = "float32"
    # how the KL term is weighted (elbolab.objectives); a kind name or a saved dict also works
    objective: Objective | str | dict = field(default_factory=Objective)

    def __post_init__(self) -> None:
        if isinstance(self.objective, str):
            self.objective = Objective(self.objective)
        elif isinstance(self.objective, dict):
            self.objective = Objective(**self.objective)
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}")
        if self.backward not in BACKWARDS:
            raise ValueError(f"backward must be one of {BACKWARDS}")
        compute_dtype(self.precision)  # validates it
        if self.binarize not in BINARIZE:
            raise ValueError(f"binarize must be one of {BINARIZE}")
        for name in ("epochs", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.max_minutes is not None and not (self.max_minutes > 0
                                                 and math.isfinite(self.max_minutes)):
            raise ValueError(f"max_minutes must be a positive number, got {self.max_minutes}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive finite number, got {self.lr}")
        if not (self.beta >= 0 and math.isfinite(self.beta)):
            raise ValueError(f"beta must be a non-negative finite number, got {self.beta}")

    def to_dict(self) -> dict:
        return asdict(self)


def compute_dtype(precision: str) -> torch.dtype | None:
    """The dtype of the matrix products for a ``precision`` (None: float32 throughout)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return torch.bfloat16 if precision == "bfloat16" else None


def learning_rate(config: TrainConfig, epoch: int) -> float:
    """Learning rate for 0-based ``epoch``.

    ``exponential``: lr·decay^epoch. ``iwae``: Burda et al. (2015), Sec. 5 — stage i lasts 3^i
    epochs with lr·10^(−i/7), i = 0…7 (3,280 epochs in all), the last rate held after.
    """
    if config.lr_schedule == "constant":
        return config.lr
    if config.lr_schedule == "exponential":
        return config.lr * config.lr_decay**epoch
    stage, end = 0, 1
    while epoch >= end and stage < 7:
        stage += 1
        end += 3**stage
    return config.lr * 10 ** (-stage / 7)


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


class Trainer:
    """Trains ``config`` into ``out_dir``. Construct, then call :meth:`fit`."""

    def __init__(
        self,
        config: TrainConfig,
        out_dir: str | Path,
        *,
        train: ImageData | None = None,
        test: ImageData | None = None,
        progress: bool = True,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.out_dir = Path(out_dir)
        self.progress = progress
        self.log = log or (lambda s: None)
        self.device = resolve_device(config.device)
        cfg = config
        train = train or load_dataset(cfg.dataset, "train", cfg.data_dir)
        test = test or load_dataset(cfg.dataset, "test", cfg.data_dir)
        self.data_name, self.image_shape = train.name, train.shape
        self.train_labels = train.labels[: cfg.train_subset]
        self.test_labels = test.labels[: cfg.test_subset]
        self.train_x = train.images[: cfg.train_subset].to(self.device)
        test_x = test.images[: cfg.test_subset].to(self.device)
        if cfg.binarize != "none":  # the test set is binarized once, with a fixed seed
            test_x = static_binarization(test_x, seed=cfg.seed + 10_007)
        if cfg.binarize == "static":
            self.train_x = static_binarization(self.train_x, seed=cfg.seed)
        self.test_x = test_x
        self.spec: ModelSpec = preset_spec(cfg.preset, data_dim=self.train_x.shape[1],
                                           latent=cfg.latent, likelihood=cfg.likelihood)
        torch.manual_seed(cfg.seed)
        self.model = build_model(self.spec).to(self.device)
        if cfg.backward == "explicit" and not backprop.supports(self.model):
            raise ValueError(f"backward='explicit' supports MLP models with ReLU or tanh, not "
                             f"arch={self.spec.arch!r} with {self.spec.activation!r}; use "
                             f"'autograd'")
        self.explicit = cfg.backward == "explicit" or (
            cfg.backward == "auto" and self.device.type == "cpu"
            and backprop.supports(self.model))
        self.gen = torch.Generator(device=self.device).manual_seed(cfg.seed)
        self.opt = self._make_optimizer()
        self._graph = None
        self.objective: Objective = cfg.objective
        self.step = 0  # optimizer steps so far (the objectives' schedules count them)
        self.compute_dtype = compute_dtype(cfg.precision)

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
        with torch.autocast(self.device.type, dtype=torch.bfloat16,
                            enabled=self.compute_dtype is not None):
            res = self.model.compute_elbo(x, generator=generator)
        objective = res.reconstruction - self.config.beta * res.kl
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
            zero = torch.zeros((), dtype=res.mu.dtype, device=res.mu.device)
            kl_b = gaussian_kl(res.mu.float(), res.logvar.float(), zero, zero, validate=False)
            w = weights(kl_b.detach().mean(0))
            loss = (-res.reconstruction.float() + (kl_b * w).sum(-1)).mean()
            self.opt.zero_grad(set_to_none=False)
            loss.backward()
            rec, kl_dims = res.reconstruction.detach().float().sum(), kl_b.detach().sum(0)
        self.opt.step()
        return len(x) * penalty["value"] - rec, rec, kl_dims.sum()

    def _eager_step(self, x: torch.Tensor):
        if self.objective.kind != "beta":
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
                         and self.objective.kind == "beta")
            # a captured graph has one batch shape: the ragged last batch is dropped (the data
            # are reshuffled every epoch, so every example is still used)
            n_batches = len(x_all) // bs if use_graph else math.ceil(len(x_all) / bs)
            index = perm[:n_batches * bs].split(bs)

            def batch(i: int) -> torch.Tensor:
                # gathered (and dynamically binarized) one batch at a time, while in cache
                xb = x_all[index[i]]
                return binarize(xb, self.gen) if cfg.binarize == "dynamic" else xb

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
                    "train_elbo": (rec_sum - kl_sum) / n_seen, "seconds": clock.seconds}
        finally:
            clock.stop()

    def _evaluate(self) -> dict:
        ev = evaluate_elbo(self.model, self.test_x,
                           generator=torch.Generator(device=self.device).manual_seed(12345))
        return {"test_elbo": ev["elbo"], "test_reconstruction": ev["reconstruction"],
                "test_kl": ev["kl"], "test_loss": -ev["elbo"]}

    # -- checkpoints ----------------------------------------------------------------------------
    def _save(self, path: Path, epoch: int, history: list[dict], **extra) -> None:
        state = {
            "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
            "epoch": epoch, "step": self.step, "generator": self.gen.get_state(),
            "cuda_rng": torch.cuda.get_rng_state() if self.device.type == "cuda" else None,
            "history": history, "config": self.config.to_dict(), "spec": self.spec.to_dict(),
            "elbolab": __version__, **extra,
        }
        with atomic_path(path) as tmp:
            torch.save(state, tmp)

    def _write_metrics(self, history: list[dict]) -> None:
        atomic_write_text(self.out_dir / "metrics.jsonl",
                          "".join(json.dumps(h) + "\n" for h in history))
        buf = io.StringIO()
        if history:
            writer = csv.DictWriter(buf, fieldnames=list(history[0]))
            writer.writeheader()
            writer.writerows(history)
        atomic_write_text(self.out_dir / "metrics.csv", buf.getvalue())

    def _load(self) -> tuple[int, list[dict]]:
        path = self.out_dir / CHECKPOINT
        if not path.exists():
            raise FileNotFoundError(f"{path}: no checkpoint to resume from")
        state = torch.load(path, map_location=self.device, weights_only=True)
        free = ("epochs", "max_minutes", "device")  # may change when a run is continued
        saved = {k: v for k, v in state["config"].items() if k not in free}
        mine = {k: v for k, v in self.config.to_dict().items() if k not in free}
        if saved != mine:
            diff = {k: (saved.get(k), mine.get(k)) for k in mine if saved.get(k) != mine.get(k)}
            raise ValueError(f"{path} was written by a different configuration: {diff}")
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.gen.set_state(state["generator"].cpu() if self.device.type == "cpu"
                           else state["generator"])
        if state.get("cuda_rng") is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"].cpu())
        self.step = int(state.get("step", 0))
        return int(state["epoch"]), list(state["history"])

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
        and returns the same metrics (as ``StopIteration.value``). Its ``seconds`` count only
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

    def fit(self, *, resume: bool = False) -> TrainResult:
        """Train for ``config.epochs`` epochs (from the checkpoint if ``resume``), or fewer
        when ``config.max_minutes`` of training time would be exceeded: training stops after
        the first epoch past which one more epoch, as long as the longest so far, would not
        fit (a later epoch that runs slower can still overshoot)."""
        from tqdm.auto import tqdm

        self.out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.out_dir / "config.json",
                          {**self.config.to_dict(), "spec": self.spec.to_dict(),
                           "data": self.data_name})
        start_epoch, history = self._load() if resume else (0, [])
        if self.device.type == "cuda":
            torch.cuda.manual_seed(self.config.seed + start_epoch)
        bar = tqdm(range(start_epoch, self.config.epochs), initial=start_epoch,
                   total=self.config.epochs, desc="train", unit="epoch",
                   disable=not self.progress)
        epoch = start_epoch
        try:
            for epoch in bar:
                row = self.run_epoch(epoch)
                history.append(row)
                self._save(self.out_dir / CHECKPOINT, epoch + 1, history)
                self._write_metrics(history)
                bar.set_postfix(train=f"{row['train_loss']:.2f}", test=f"{row['test_loss']:.2f}",
                                s=f"{row['seconds']:.2f}")
                budget = self.config.max_minutes
                if budget is not None:
                    spent = sum(h["seconds"] for h in history)
                    if spent + max(h["seconds"] for h in history) > 60 * budget:
                        self.log(f"time budget of {budget:g} min: stopping after epoch "
                                 f"{epoch + 1} ({spent:.1f} s of training)")
                        break
        except KeyboardInterrupt:
            self._save(self.out_dir / "interrupted.pt", epoch, history, interrupted=True)
            self.log(f"interrupted in epoch {epoch + 1}: state saved to "
                     f"{self.out_dir / 'interrupted.pt'}; --resume continues from "
                     f"{self.out_dir / CHECKPOINT} (epoch {epoch})")
            raise
        finally:
            bar.close()
        return TrainResult(self.model, history, self.out_dir, start_epoch)


def load_run(run_dir: str | Path, device: str = "auto") -> tuple[ELBOFramework, dict]:
    """The trained model of a run folder and its checkpoint contents (``weights_only``)."""
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(f"{path}: no checkpoint (train with `elbolab train` first)")
    dev = resolve_device(device)
    try:
        state = torch.load(path, map_location=dev, weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: cannot be loaded ({exc}); the file is corrupted") from None
    model = build_model(ModelSpec.from_dict(state["spec"])).to(dev)
    model.load_state_dict(state["model"])
    model.eval()
    return model, state
