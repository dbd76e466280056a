r"""How the KL term of the (β-)ELBO is weighted during training.

Per example the loss is :math:`D + \text{penalty}(\mathrm{KL})`, D the distortion
:math:`-\log p(x|z)`. Options (all Bowman-style schedules count optimizer steps):

- ``beta``: β·KL (Higgins et al. 2017; β = 1 is the ELBO);
- ``warmup``: β·min(1, step/warmup_steps)·KL, KL annealing (Bowman et al. 2016; Sønderby et
  al. 2016);
- ``free_bits``: β·Σ_j max(λ, KL_j), KL_j the batch-mean KL of latent dimension j (Kingma et
  al. 2016, Eq. 15): no pressure on a unit below λ nats;
- ``capacity``: γ·|KL − C(step)|, C rising linearly from 0 to ``capacity`` nats over
  ``capacity_steps`` (Burgess et al. 2018); β is not used;
- ``iwae``: not a KL weighting but the k-sample importance-weighted bound itself (Burda et al.
  2015), with k and the gradient estimator set by the train config (``--k``, ``--gradient``;
  :func:`elbolab.gradients.surrogate_objective`); β must be 1.

The gradient treats the weights as constants of the batch, so each option is "β per latent
dimension": :meth:`Objective.kl_weights` returns them, with the penalty's value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..settings import check_setting_choice, check_setting_count, check_setting_number

OBJECTIVES = ("beta", "warmup", "free_bits", "capacity", "iwae")


@dataclass(frozen=True)
class Objective:
    """One of :data:`OBJECTIVES` with its settings (see the module docstring); β itself is
    given per call, one value per model."""

    kind: str = field(default="beta", metadata={
        "help": "how the KL term is weighted", "choices": OBJECTIVES, "flag": "objective"})
    warmup_steps: int = field(default=2000, metadata={"help": "steps of the β ramp (warmup)"})
    free_bits: float = field(default=0.5, metadata={
        "help": "λ, nats per latent unit (free_bits)"})
    capacity: float = field(default=25.0, metadata={"help": "final C, nats (capacity)"})
    capacity_steps: int = field(default=5000, metadata={
        "help": "steps until C is reached (capacity)"})
    gamma: float = field(default=100.0, metadata={"help": "weight of |KL − C| (capacity)"})

    def __post_init__(self) -> None:
        check_setting_choice("kind", self.kind, OBJECTIVES)
        for name in ("warmup_steps", "capacity_steps"):
            check_setting_count(name, getattr(self, name))
        for name in ("free_bits", "capacity", "gamma"):
            check_setting_number(name, getattr(self, name), minimum=0.0)

    def capacity_at(self, step: int) -> float:
        return self.capacity * min(1.0, step / self.capacity_steps)

    def kl_weights(self, kl_dims: torch.Tensor, betas: torch.Tensor, step: int):
        """(weights broadcastable to (K, 1, L), penalty per model (K,)) for this batch's mean
        KL per dimension ``kl_dims`` (K, L). ``penalty`` is the value the objective adds to
        the distortion, so distortion + penalty is the training loss. ``step`` ≥ 0."""
        if step < 0:
            raise ValueError(f"step must be >= 0 (optimizer steps so far), got {step}")
        if self.kind == "iwae":
            raise ValueError("the iwae objective has no KL weights: it is the importance-"
                             "weighted bound (elbolab.gradients.surrogate_objective)")
        b = betas.to(kl_dims).view(-1, 1)  # (K, 1)
        kl = kl_dims.sum(-1)
        if self.kind == "beta":
            return b.unsqueeze(-1), b[:, 0] * kl
        if self.kind == "warmup":
            ramp = min(1.0, step / self.warmup_steps)
            return (ramp * b).unsqueeze(-1), ramp * b[:, 0] * kl
        if self.kind == "free_bits":
            above = (kl_dims >= self.free_bits).to(kl_dims.dtype)  # (K, L)
            return (b * above).unsqueeze(-2), b[:, 0] * kl_dims.clamp_min(self.free_bits).sum(-1)
        c = self.capacity_at(step)
        sign = torch.sign(kl - c).view(-1, 1, 1)
        return self.gamma * sign, self.gamma * (kl - c).abs()


__all__ = ["OBJECTIVES", "Objective"]
