"""The Markdown tables of the lab's results: the β sweep of Part 5 and the grid's aggregate
and trials. Tables are presentation: the wings return numbers (rows of dicts), and these
functions lay them out for the notebook, the command line and the grid's report."""

from __future__ import annotations

import math
from collections.abc import Sequence


def two_forces_table(result) -> str:
    """A :class:`~elbolab.parts.two_forces.TwoForcesResult` as a Markdown table, one row per β:
    rate, distortion, −ELBO, log p(x) with its standard error, active and informative units,
    training seconds (nats per image)."""
    head = ("| β | rate R = KL (nats) | distortion 𝒟 = −rec. (nats) | −ELBO = 𝒟 + R "
            "| log p(x) (IS) | active units (Var μ > 0.01) | units with KL > 0.1 nat "
            "| train s |")
    lines = [head, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in result.rows:
        n = len(r["kl_per_dim"])
        lines.append(f"| {r['beta']:g} | {r['kl']:.2f} | {-r['reconstruction']:.2f} | "
                     f"{-r['elbo']:.2f} | {r['log_px']:.2f} ± {r['log_px_stderr']:.2f} | "
                     f"{r['active_units']}/{n} | {r['informative_units']}/{n} | "
                     f"{r['train_seconds']:.1f} |")
    return "\n".join(lines)


def _pm(mean: float, se: float, digits: int = 2) -> str:
    return f"{mean:.{digits}f}" + ("" if math.isnan(se) else f" ± {se:.{digits}f}")


def aggregate_markdown(rows: Sequence[dict]) -> str:
    """The aggregate as a Markdown table (mean ± SE across seeds, nats per image)."""
    lines = ["| dataset | objective | β | seeds | rate R | distortion D | −ELBO | log p(x) (IS) "
             "| active units |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['objective']} | {r['beta']:g} | {r['n_seeds']} | "
            f"{_pm(r['rate_mean'], r['rate_se'])} | {_pm(r['distortion_mean'], r['distortion_se'])}"
            f" | {_pm(r['neg_elbo_mean'], r['neg_elbo_se'])} | "
            f"{_pm(r['log_px_mean'], r['log_px_se'])} | "
            f"{_pm(r['active_units_mean'], r['active_units_se'], 1)} |")
    return "\n".join(lines)


def trials_markdown(records: Sequence[dict]) -> str:
    """One line per (trial, β): the trial's own numbers."""
    lines = ["| trial | β | rate R | distortion D | −ELBO | log p(x) (IS) | train s |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for rec in records:
        for r in rec["result"]["rows"]:
            lines.append(f"| {rec['id']} | {r['beta']:g} | {r['kl']:.2f} | "
                         f"{-r['reconstruction']:.2f} | {-r['elbo']:.2f} | "
                         f"{r['log_px']:.2f} ± {r['log_px_stderr']:.2f} | "
                         f"{r['train_seconds']:.1f} |")
    return "\n".join(lines)


__all__ = ["aggregate_markdown", "trials_markdown", "two_forces_table"]
