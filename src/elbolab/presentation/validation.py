"""A tiny record of numerical checks: name, lab part, kind, value, comparator, tolerance,
passed.

The notebook logs every check it makes here; ``elbolab lab`` writes the records to
``metrics.json`` (key ``validations``) and prints them as a table, so any tool can read what
the lab verified. Every record says what kind of evidence it is (:data:`KINDS`):

- ``identity``: an exact relation, held to a float-precision bound;
- ``oracle``: against an independent implementation or a published number (scipy,
  torch.distributions, mpmath, quadrature, a paper's equation written out again);
- ``statistical``: a z-score or a test with a stated null, its tolerance from the standard
  error (4 SE unless the detail says otherwise);
- ``demonstration``: illustrates a behaviour the text describes; not a proof, and never the
  only evidence for a claim.

``detail`` says where the tolerance comes from. Each record also names the notebook
``section`` it was made in and the checklist items it ``serves``
(:mod:`elbolab.presentation.checklist`), both set by :meth:`ValidationLog.section`.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from html import escape

from ..io import atomic_write_json

PARTS = ("intractable", "kl", "jensen", "elbo", "training", "two_forces", "diffusion")
KINDS = ("identity", "oracle", "statistical", "demonstration")


@dataclass(frozen=True)
class Validation:
    """One check. ``value`` is the measured statistic, ``tolerance`` the bound it is held to
    through ``comparator`` (``"<="``, ``">="``, or ``"custom"`` when the caller decided;
    ``passed`` says whether it held); ``kind`` is one of :data:`KINDS`; ``detail`` explains
    the comparison and where the tolerance comes from."""

    name: str
    part: str
    value: float
    tolerance: float
    passed: bool
    detail: str = ""
    kind: str = "demonstration"
    comparator: str = "custom"
    section: str = ""
    serves: tuple[str, ...] = ()

    def _repr_html_(self) -> str:
        """One line in a notebook (a cell that ends in a check shows its verdict, not a repr)."""
        mark = "✓ pass" if self.passed else "✗ FAIL"
        how = {"<=": "≤", ">=": "≥"}.get(self.comparator, "against")
        return (f'<p class="elbolab-check"><strong>{mark}</strong> · {escape(self.name)}: '
                f"{self.value:.4g} {how} {self.tolerance:.4g} <em>({self.kind})</em></p>")


@dataclass
class ValidationLog:
    """An ordered list of :class:`Validation` records with helpers for common checks.

    :meth:`section` sets the notebook section and the checklist items that the records made
    after it belong to."""

    records: list[Validation] = field(default_factory=list)
    current_section: str = ""
    current_serves: tuple[str, ...] = ()

    def section(self, title: str, *serves: str) -> None:
        """Records made from now on were made in section ``title`` and serve the checklist
        items ``serves`` (keys of :data:`elbolab.presentation.checklist.CHECKLIST`; an unknown
        key is a ``ValueError``)."""
        from .checklist import check_keys

        if not title:
            raise ValueError("title must name the notebook section")
        self.current_section, self.current_serves = title, check_keys(serves)

    def record(
        self, name: str, part: str, value: float, tolerance: float, passed: bool,
        detail: str = "", *, kind: str, comparator: str = "custom",
    ) -> Validation:
        """Append a check whose pass/fail the caller decided."""
        if part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}, got {part!r}")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        value = float(value)
        rec = Validation(name, part, value, float(tolerance), bool(passed) and math.isfinite(value),
                         detail, kind, comparator, self.current_section, self.current_serves)
        self.records.append(rec)
        return rec

    def at_most(
        self, name: str, part: str, value: float, tolerance: float, detail: str = "", *,
        kind: str,
    ) -> Validation:
        """Pass when ``value <= tolerance`` (an error, a distance, a z-score magnitude)."""
        return self.record(name, part, value, tolerance, float(value) <= tolerance, detail,
                           kind=kind, comparator="<=")

    def at_least(
        self, name: str, part: str, value: float, tolerance: float, detail: str = "", *,
        kind: str,
    ) -> Validation:
        """Pass when ``value >= tolerance`` (a p-value, a count that must be reached)."""
        return self.record(name, part, value, tolerance, float(value) >= tolerance, detail,
                           kind=kind, comparator=">=")

    def close(
        self,
        name: str,
        part: str,
        value: float,
        target: float,
        rtol: float = 0.0,
        atol: float = 0.0,
        detail: str = "",
        *,
        kind: str,
    ) -> Validation:
        """Pass when ``|value - target| <= atol + rtol·|target|``; records the absolute error."""
        err = abs(float(value) - float(target))
        tol = atol + rtol * abs(float(target))
        text = detail or f"|{float(value):.6g} - {float(target):.6g}|"
        return self.record(name, part, err, tol, err <= tol, text, kind=kind, comparator="<=")

    def z_within(
        self, name: str, part: str, z: float, bound: float = 4.0, detail: str = "",
    ) -> Validation:
        """A statistical check: pass when ``|z| <= bound`` (4 SE unless stated)."""
        return self.at_most(name, part, abs(float(z)), bound,
                            detail or f"|z| <= {bound:g} standard errors", kind="statistical")

    @property
    def all_passed(self) -> bool:
        return all(r.passed for r in self.records)

    def to_dicts(self) -> list[dict]:
        return [asdict(r) for r in self.records]

    def save(self, path: str | os.PathLike[str], **extra: object) -> None:
        """Write ``{"validations": [...], **extra}`` to ``path`` atomically."""
        atomic_write_json(path, {"validations": self.to_dicts(), **extra})

    def table(self) -> str:
        """A plain-text table (check, part, value, tolerance, result)."""
        return format_table(self.to_dicts())


def format_table(validations: list[dict]) -> str:
    """Render validation dicts as an aligned text table with a pass count at the end."""
    header = ("check", "part", "kind", "value", "", "tolerance", "result")
    rows = [
        (v["name"], v["part"], v.get("kind", "?"), f"{v['value']:.3g}",
         {"<=": "≤", ">=": "≥"}.get(v.get("comparator", "custom"), "?"),
         f"{v['tolerance']:.3g}", "pass" if v["passed"] else "FAIL")
        for v in validations
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [line.format(*header), line.format(*("-" * w for w in widths))]
    out += [line.format(*r) for r in rows]
    n_pass = sum(v["passed"] for v in validations)
    kinds = {k: sum(v.get("kind") == k for v in validations) for k in KINDS}
    out.append(f"{n_pass}/{len(validations)} validations passed ("
               + ", ".join(f"{n} {k}" for k, n in kinds.items()) + ")")
    return "\n".join(out)


__all__ = ["KINDS", "PARTS", "Validation", "ValidationLog", "format_table"]
