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
        cls = "elbolab-check" + ("" if self.passed else " fail")
        return (f'<p class="{cls}"><strong>{mark}</strong> · {escape(readable(self.name))}: '
                f"{self.value:.4g} {escape(self.unit)} {COMPARATORS[self.comparator]} "
                f"{escape(threshold_text(asdict(self)))} against "
                f"{escape(readable(self.against))} <em>({self.kind})</em></p>")


@dataclass
class ValidationLog:
    """An ordered list of :class:`Validation` records with helpers for common checks.

    :meth:`section` sets the notebook section and the checklist items that the records made
    after it belong to; ``items``, when given, are the item keys a section may name (the
    chapters pass :data:`elbolab.presentation.checklist.SECTION_KEYS`)."""

    records: list[Validation] = field(default_factory=list)
    current_section: str = ""
    current_serves: tuple[str, ...] = ()
    items: frozenset[str] | None = None

    def section(self, title: str, *serves: str) -> None:
        """Records made from now on were made in section ``title`` and serve the checklist
        items ``serves`` (an item not in ``items`` is a ``ValueError``)."""
        if not title:
            raise ValueError("title must name the notebook section")
        unknown = [key for key in serves if self.items is not None and key not in self.items]
        if unknown:
            raise ValueError(f"unknown checklist item {unknown[0]!r}; expected one of "
                             f"{sorted(self.items)}")
        self.current_section, self.current_serves = title, tuple(serves)

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


_SUB = dict(zip("0123456789+-=()aehijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ",
                strict=True))
_SUP = dict(zip("0123456789+-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻", strict=True))
_GREEK = {"alpha": "α", "beta": "β", "gamma": "γ", "lambda": "λ", "mu": "μ", "rho": "ρ",
          "sigma": "σ", "tau": "τ", "theta": "θ", "phi": "φ", "eps": "ε", "dmu": "Δμ",
          "alpha-bar": "ᾱ"}
_RULES = (
    (r"\bd(\w)/d(mu|sigma|logvar)\b",
     lambda m: f"∂{m.group(1)}/∂{_GREEK.get(m.group(2), m.group(2))}"),
    (r"\b(" + "|".join(sorted(_GREEK, key=len, reverse=True)) + r")(?![A-Za-z])",
     lambda m: _GREEK[m.group(1)]),
    (r"\bsqrt\(", lambda m: "√("),
    (r"\bsum (?=[a-zA-Z](?![A-Za-z]))", lambda m: "Σ"),
    (r"_\{([^{}]+)\}", lambda m: (("".join(_SUB[c] for c in m.group(1)))
                                  if all(c in _SUB for c in m.group(1)) else f"_({m.group(1)})")),
    (r"(?<=[A-Za-zα-ωᾱ])_([0-9a-z])(?![A-Za-z0-9])", lambda m: _SUB.get(m.group(1), m.group(0))),
    (r"\^(-?[0-9]+)(?![0-9])", lambda m: "".join(_SUP[c] for c in m.group(1))),
    (r"(?<=\d) x (?=\d)|\(x(?=\d)", lambda m: " × " if m.group(0) == " x " else "(×"),
    (r"<=", lambda m: "≤"),
    (r">=", lambda m: "≥"),
    (r"->", lambda m: "→"),
    (r"\|\|", lambda m: "‖"),
    (r"(?<= )-(?= )", lambda m: "−"),
    (r"(?<=[ (])-(?=\d|inf\b)", lambda m: "−"),
)


def readable(text: str) -> str:
    """A check's name or comparison in the notation of the text: ``x_{t-1}`` → xₜ₋₁,
    ``sigma^2`` → σ², ``<=`` → ≤, ``||`` → ‖, ``dz/dmu`` → ∂z/∂μ, ``(sum w)^2`` → (Σw)²,
    ``1201 x 1201`` → 1201 × 1201. The records keep their ASCII names (``metrics.json`` is read
    by programs); only what a reader sees is rewritten."""
    import re

    for pattern, repl in _RULES:
        text = re.sub(pattern, repl, text)
    return text


def margin_text(v: dict) -> str:
    """What a record's result means beyond pass/fail, in a few words: how much room it had
    ("✓ 1.4e+05× under" a bound, "✓ 1.8 SE spare", "✓ +1.8 over" a floor, "✓ off 2e-15" of a
    target), or by how much it failed ("✗ 3× over")."""
    comparator, value, tol = v.get("comparator", "custom"), v["value"], v["tolerance"]
    ref = v.get("reference")
    mark = "✓" if v["passed"] else "✗"
    if not math.isfinite(value):
        return f"{mark} {value}"
    if comparator == "<=":
        if value == 0:
            return f"{mark} exactly 0"
        if value > 0 and tol > 0:
            ratio = tol / value
            return f"{mark} {ratio:.2g}× under" if ratio >= 1 else f"{mark} {1 / ratio:.2g}× over"
        return f"{mark} {tol - value:+.3g} under"
    if comparator == ">=":
        return f"{mark} {value - tol:+.3g} over"
    if comparator == "|z|<=":
        return f"{mark} {tol - abs(value):.2g} SE spare" if v["passed"] else \
            f"{mark} {abs(value) - tol:.2g} SE out"
    if comparator == "=" and ref is not None:
        return f"{mark} off {abs(value - ref):.2g}"
    if comparator == "in" and ref is not None:
        return f"{mark} inside" if v["passed"] else f"{mark} outside"
    return mark


def _row(v: dict, chapter: bool) -> str:
    how = COMPARATORS.get(v.get("comparator", "custom"), "see check")
    unit = f" {escape(v['unit'])}" if v.get("unit") else ""
    cls = "" if v["passed"] else ' class="fail"'
    where = f"<td>{escape(str(v.get('chapter', '')))}</td>" if chapter else ""
    return (f"<tr{cls}>{where}<td>{escape(readable(v['name']))}"
            f'<div class="against">against {escape(readable(v.get("against", "")))} · '
            f"{escape(v.get('kind', '?'))}</div></td>"
            f'<td class="num" data-label="value">{v["value"]:.3g}{unit}</td>'
            f'<td class="num" data-label="threshold">{how} {escape(threshold_text(v))}</td>'
            f'<td data-label="result">{escape(margin_text(v))}</td></tr>')


def _table(rows: list[dict], chapter: bool = False) -> str:
    head = ("<th>chapter</th>" if chapter else "") + (
        '<th>check, and what it is compared against</th><th class="num">value</th>'
        '<th class="num">threshold</th><th>result</th>')
    return ('<div class="table-scroll"><table class="elbolab-validations">'
            f"<thead><tr>{head}</tr></thead><tbody>"
            + "".join(_row(v, chapter) for v in rows) + "</tbody></table></div>")


def _count(rows: list[dict]) -> str:
    passed = sum(bool(v["passed"]) for v in rows)
    kinds = ", ".join(f"{n} {k}" for k in KINDS
                      if (n := sum(v.get("kind") == k for v in rows)))
    return f"{passed} of {len(rows)} passed ({kinds})"


def format_html(validations: list[dict],
                chapters: list[tuple[str, str, str]] | None = None) -> str:
    """The validations as HTML a reader can filter without a script: grouped once by chapter
    and once by kind, each group a ``<details>`` that opens on a click (a group with a failed
    check opens by itself). Each row: the check in the text's notation (:func:`readable`)
    with what it is compared against and its kind under it, the value with its unit, the
    comparator and threshold, and the result with its margin (:func:`margin_text`).
    ``chapters``: (id, title, page) of each chapter, in book order, for the groups' titles
    and links; without it, the records' ``chapter`` (or ``part``) names the groups."""
    n_pass = sum(v["passed"] for v in validations)
    out = [f"<p><strong>{n_pass} of {len(validations)} validations passed</strong> "
           f"({_count(validations).split('(', 1)[1]}. Open a group to see its checks. Each "
           "row: what the check measures, what it is compared against, the measured value and "
           "its unit, how it is compared (≤, ≥, = within ±, |z| ≤ for a z-score in standard "
           "errors, ∈ a range), the threshold, and how much room the result had.</p>",
           "<h3>By chapter</h3>"]

    def key(v: dict) -> str:
        return str(v.get("chapter") or v.get("part", ""))

    known = [(cid, title, page) for cid, title, page in (chapters or [])]
    order = [c[0] for c in known] + sorted({key(v) for v in validations}
                                           - {c[0] for c in known})
    titles = {cid: (title, page) for cid, title, page in known}
    for cid in order:
        rows = [v for v in validations if key(v) == cid]
        if not rows:
            continue
        title, page = titles.get(cid, (cid, ""))
        name = f'<a href="{escape(page)}">{escape(title)}</a>' if page else escape(title)
        opened = " open" if not all(v["passed"] for v in rows) else ""
        out.append(f'<details class="group"{opened}><summary>{name}: {_count(rows)}</summary>'
                   + _table(rows) + "</details>")
    out.append("<h3>By kind</h3>")
    for kind in KINDS:
        rows = [v for v in validations if v.get("kind") == kind]
        if rows:
            opened = " open" if not all(v["passed"] for v in rows) else ""
            out.append(f'<details class="group"{opened}><summary>{kind}: '
                       f"{sum(bool(v['passed']) for v in rows)} of {len(rows)} passed"
                       f"</summary>{_table(rows, chapter=True)}</details>")
    return "\n".join(out)


__all__ = ["COMPARATORS", "KINDS", "PARTS", "Validation", "ValidationLog",
           "format_html", "format_table", "margin_text", "readable", "threshold_text"]
