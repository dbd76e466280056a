"""A tiny record of numerical checks: name, lab part, kind, what the value is compared
against, the value and its unit, the comparator, the threshold, passed.

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

Every record says what the measured ``value`` is held ``against`` (the oracle, the exact
answer, the published number, or the claim's threshold) and in which ``unit`` it is (nats,
SE for a z-score, a relative error, a ratio, a count, …); the ``comparator`` is one of
:data:`COMPARATORS`. ``detail`` says where the tolerance comes from. Each record also names
the notebook ``section`` it was made in and the checklist items it ``serves``
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
#: How a value meets its threshold, and how a table shows it: ``=`` is |value − reference| ≤
#: tolerance; ``in`` is reference ≤ value ≤ tolerance; ``custom``: the caller decided.
COMPARATORS = {"<=": "≤", ">=": "≥", "=": "=", "|z|<=": "|z| ≤", "in": "∈",
               "custom": "see check"}


def threshold_text(v: dict) -> str:
    """A record's threshold as a table shows it ("4", "1 ± 0.1", "[0.5, 2]")."""
    comparator, tol, ref = v.get("comparator", "custom"), v["tolerance"], v.get("reference")
    if comparator == "=" and ref is not None:
        return f"{ref:.4g} ± {tol:.2g}"
    if comparator == "in" and ref is not None:
        return f"[{ref:.3g}, {tol:.3g}]"
    return f"{tol:.3g}"


@dataclass(frozen=True)
class Validation:
    """One check. ``value`` is the measured statistic in ``unit``, ``tolerance`` the bound it
    is held to through ``comparator`` (one of :data:`COMPARATORS`; ``reference`` is the target
    of ``=`` and the lower end of ``in``; ``passed`` says whether it held); ``against`` names
    what it is compared with; ``kind`` is one of :data:`KINDS`; ``detail`` explains the
    comparison and where the tolerance comes from."""

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
    against: str = ""
    unit: str = ""
    reference: float | None = None

    def _repr_html_(self) -> str:
        """One line in a notebook (a cell that ends in a check shows its verdict, not a repr)."""
        mark = "✓ pass" if self.passed else "✗ FAIL"
        return (f'<p class="elbolab-check"><strong>{mark}</strong> · {escape(self.name)}: '
                f"{self.value:.4g} {escape(self.unit)} {COMPARATORS[self.comparator]} "
                f"{escape(threshold_text(asdict(self)))} against {escape(self.against)} "
                f"<em>({self.kind})</em></p>")


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
        detail: str = "", *, kind: str, against: str, unit: str, comparator: str = "custom",
        reference: float | None = None,
    ) -> Validation:
        """Append a check whose pass/fail the caller decided."""
        if part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}, got {part!r}")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if comparator not in COMPARATORS:
            raise ValueError(f"comparator must be one of {tuple(COMPARATORS)}, got "
                             f"{comparator!r}")
        if not against:
            raise ValueError(f"against must name what {name!r} is compared with")
        value = float(value)
        rec = Validation(name, part, value, float(tolerance), bool(passed) and math.isfinite(value),
                         detail, kind, comparator, self.current_section, self.current_serves,
                         against, unit, None if reference is None else float(reference))
        self.records.append(rec)
        return rec

    def at_most(
        self, name: str, part: str, value: float, tolerance: float, detail: str = "", *,
        kind: str, against: str, unit: str,
    ) -> Validation:
        """Pass when ``value <= tolerance`` (an error, a distance, a z-score magnitude)."""
        return self.record(name, part, value, tolerance, float(value) <= tolerance, detail,
                           kind=kind, against=against, unit=unit, comparator="<=")

    def at_least(
        self, name: str, part: str, value: float, tolerance: float, detail: str = "", *,
        kind: str, against: str, unit: str,
    ) -> Validation:
        """Pass when ``value >= tolerance`` (a p-value, a count that must be reached)."""
        return self.record(name, part, value, tolerance, float(value) >= tolerance, detail,
                           kind=kind, against=against, unit=unit, comparator=">=")

    def between(
        self, name: str, part: str, value: float, low: float, high: float, detail: str = "",
        *, kind: str, against: str, unit: str,
    ) -> Validation:
        """Pass when ``low <= value <= high`` (an order of magnitude, a ratio near 1)."""
        return self.record(name, part, value, high, low <= float(value) <= high, detail,
                           kind=kind, against=against, unit=unit, comparator="in",
                           reference=low)

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
        against: str,
        unit: str,
    ) -> Validation:
        """Pass when ``|value - target| <= atol + rtol·|target|``; records the value, the
        target as ``reference`` and the allowed difference as ``tolerance``."""
        err = abs(float(value) - float(target))
        tol = atol + rtol * abs(float(target))
        return self.record(name, part, value, tol, err <= tol, detail, kind=kind,
                           against=against, unit=unit, comparator="=", reference=target)

    def z_within(
        self, name: str, part: str, z: float, bound: float = 4.0, detail: str = "", *,
        against: str,
    ) -> Validation:
        """A statistical check: pass when ``|z| <= bound`` (4 SE unless stated); ``z`` is
        (estimate − ``against``) / standard error, recorded with its sign."""
        return self.record(name, part, z, bound, abs(float(z)) <= bound,
                           detail or f"|z| <= {bound:g} standard errors", kind="statistical",
                           against=against, unit="SE", comparator="|z|<=")

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
    header = ("check", "part", "kind", "value", "", "threshold", "result")
    rows = [
        (v["name"], v["part"], v.get("kind", "?"),
         f"{v['value']:.3g}" + (f" {v['unit']}" if v.get("unit") else ""),
         COMPARATORS.get(v.get("comparator", "custom"), "?"),
         threshold_text(v), "pass" if v["passed"] else "FAIL")
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
    section), each row: the check, its kind, what it is compared against, the measured value
    with its unit, the comparator, the threshold and the verdict; the pass count and the kinds
    at the top."""
    n_pass = sum(v["passed"] for v in validations)
    kinds = ", ".join(f"{sum(v.get('kind') == k for v in validations)} {k}" for k in KINDS)
    out = [f"<p><strong>{n_pass} of {len(validations)} validations passed</strong> ({kinds}). "
           "Each row: what the check measures, what it is compared against, the measured "
           "value and its unit, how it is compared (≤, ≥, = within ±, |z| ≤ for a z-score in "
           "standard errors, ∈ a range) and the threshold it must meet.</p>",
           "<style>table.elbolab-validations td:nth-child(-n+3), table.elbolab-validations "
           "th:nth-child(-n+3) {text-align: left !important} table.elbolab-validations "
           "td:nth-child(n+4) {white-space: nowrap}</style>",
           '<table class="elbolab-validations" style="font-size: 0.9em">',
           "<thead><tr><th>check</th><th>kind</th><th>compared against</th><th>value</th>"
           "<th></th><th>threshold</th><th>result</th></tr></thead><tbody>"]
    for part in PARTS:
        rows = [v for v in validations if v["part"] == part]
        if not rows:
            continue
        title, anchor = PART_SECTIONS[part]
        out.append(f'<tr><th colspan="7" style="text-align: left"><a href="#{anchor}">'
                   f"{escape(title)}</a> ({sum(v['passed'] for v in rows)}/{len(rows)})</th></tr>")
        for v in rows:
            how = COMPARATORS.get(v.get("comparator", "custom"), "see check")
            verdict = "✓ pass" if v["passed"] else "<strong>✗ FAIL</strong>"
            unit = f" {escape(v['unit'])}" if v.get("unit") else ""
            out.append(f"<tr><td>{escape(v['name'])}</td><td>{escape(v.get('kind', '?'))}</td>"
                       f"<td>{escape(v.get('against', ''))}</td><td>{v['value']:.3g}{unit}</td>"
                       f"<td>{how}</td><td>{escape(threshold_text(v))}</td>"
                       f"<td>{verdict}</td></tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


__all__ = ["COMPARATORS", "KINDS", "PARTS", "PART_SECTIONS", "Validation", "ValidationLog",
           "format_html", "format_table", "threshold_text"]
