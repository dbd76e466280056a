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
#: Each part's notebook section: (title, anchor id of its heading in the notebook)
PART_SECTIONS = {
    "intractable": ("Part 1 — Why p(x) is intractable", "part-1"),
    "kl": ("Part 2 — KL divergence", "part-2"),
    "jensen": ("Part 3 — Jensen's inequality and the ELBO", "part-3"),
    "elbo": ("Part 4 — The ELBO and the reparameterization trick", "part-4"),
    "training": ("Part 4 — A VAE trained on MNIST", "part-4"),
    "two_forces": ("Part 5 — The two forces", "part-5"),
    "diffusion": ("From the ELBO to diffusion", "diffusion"),
}
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

    def html(self) -> str:
        """The records as an HTML table grouped by part (see :func:`format_html`)."""
        return format_html(self.to_dicts())


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


def format_html(validations: list[dict]) -> str:
    """The validations as an HTML table, one group per part (its header links to the part's
    section), each row: the check, its kind, the measured value, the comparator, the
    threshold and the verdict; the pass count and the kinds at the top."""
    n_pass = sum(v["passed"] for v in validations)
    kinds = ", ".join(f"{sum(v.get('kind') == k for v in validations)} {k}" for k in KINDS)
    out = [f"<p><strong>{n_pass} of {len(validations)} validations passed</strong> ({kinds}). "
           "Each row: the measured value, how it is compared (≤, ≥, or decided by the check "
           "itself) and the threshold it must meet.</p>",
           "<style>table.elbolab-validations td:first-child, table.elbolab-validations "
           "th:first-child {text-align: left !important} table.elbolab-validations td:last-child "
           "{white-space: nowrap}</style>",
           '<table class="elbolab-validations" style="font-size: 0.9em">',
           "<thead><tr><th>check</th><th>kind</th><th>value</th><th></th><th>threshold</th>"
           "<th>result</th></tr></thead><tbody>"]
    for part in PARTS:
        rows = [v for v in validations if v["part"] == part]
        if not rows:
            continue
        title, anchor = PART_SECTIONS[part]
        out.append(f'<tr><th colspan="6" style="text-align: left"><a href="#{anchor}">'
                   f"{escape(title)}</a> ({sum(v['passed'] for v in rows)}/{len(rows)})</th></tr>")
        for v in rows:
            how = {"<=": "≤", ">=": "≥"}.get(v.get("comparator", "custom"), "see check")
            verdict = "✓ pass" if v["passed"] else "<strong>✗ FAIL</strong>"
            out.append(f"<tr><td>{escape(v['name'])}</td><td>{escape(v.get('kind', '?'))}</td>"
                       f"<td>{v['value']:.3g}</td><td>{how}</td><td>{v['tolerance']:.3g}</td>"
                       f"<td>{verdict}</td></tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


__all__ = ["KINDS", "PARTS", "PART_SECTIONS", "Validation", "ValidationLog", "format_html",
           "format_table"]
