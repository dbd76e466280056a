"""The lab's checklist: what the lab must show, and which validations show it.

Every validation record names the checklist items it serves (``serves``) and the notebook
section it was made in (``section``); :func:`coverage` joins :data:`CHECKLIST` with the records
of a run's ``metrics.json`` so that an item no record serves shows as missing, and
:func:`appendix_html` renders that join as the report's appendix.

Source of the items. The handout's submission checklist and excellence indicators are not in
this repository; the items below are rebuilt from what the project records of them: the parts
and classes the lab is built around (``IntractableLikelihoodDemo``, ``KLDivergenceBuilder``,
``JensenInequalityDemo``, ``ELBOFramework``, ``TwoForcesAnalysis``, the bridge to diffusion)
and the handout phrases quoted in the project's issues (marked ``quoted=True``). Items the
lab adds beyond the handout say so (``source="lab"``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape

from .validation import KINDS


@dataclass(frozen=True)
class ChecklistItem:
    """One item: ``key`` (what records name in ``serves``), the ``group`` it belongs to, its
    ``text``; ``quoted`` when the text quotes the handout; ``source`` is ``"handout"`` or
    ``"lab"`` (an item the lab adds); ``kind``, when set, makes every record of that kind serve
    the item (an indicator about the evidence itself rather than a topic)."""

    key: str
    group: str
    text: str
    quoted: bool = False
    source: str = "handout"
    kind: str | None = None


CHECKLIST: tuple[ChecklistItem, ...] = (
    ChecklistItem("p1.integral", "Part 1 · IntractableLikelihoodDemo",
                  "p(x) = ∫ p(x|z) p(z) dz written down and computed exactly where it can be"),
    ChecklistItem("p1.naive_mc", "Part 1 · IntractableLikelihoodDemo",
                  "naive Monte Carlo from the prior, and its failure as the latent dimension "
                  "grows, measured"),
    ChecklistItem("p1.log_space", "Part 1 · IntractableLikelihoodDemo",
                  "averaging in log space (log-sum-exp), not in probability space"),
    ChecklistItem("p1.importance", "Part 1 · IntractableLikelihoodDemo",
                  "better estimators: importance sampling, IWAE-k, the ELBO"),
    ChecklistItem("p2.closed_form", "Part 2 · KLDivergenceBuilder",
                  "closed-form KL between Gaussians (diagonal and full covariance)"),
    ChecklistItem("p2.standard_normal", "Part 2 · KLDivergenceBuilder",
                  "standard_normal_kl: KL(q ‖ N(0, I)), the most common in practice",
                  quoted=True),
    ChecklistItem("p2.monte_carlo", "Part 2 · KLDivergenceBuilder",
                  "Monte Carlo KL with a standard error, converging to the closed form"),
    ChecklistItem("p2.asymmetry", "Part 2 · KLDivergenceBuilder",
                  "KL asymmetry and its practical implication (mode covering vs mode seeking)",
                  quoted=True),
    ChecklistItem("p3.jensen", "Part 3 · JensenInequalityDemo",
                  "Jensen's inequality shown numerically, with its gap"),
    ChecklistItem("p3.elbo", "Part 3 · JensenInequalityDemo",
                  "the ELBO derived from Jensen: ELBO ≤ log p(x)"),
    ChecklistItem("p3.gap", "Part 3 · JensenInequalityDemo",
                  "the gap: log p(x) − ELBO = KL(q(z|x) ‖ p(z|x))"),
    ChecklistItem("p4.reparameterization", "Part 4 · ELBOFramework",
                  "statistical validation of the reparameterization trick", quoted=True),
    ChecklistItem("p4.elbo", "Part 4 · ELBOFramework",
                  "the ELBO computed: reconstruction term and KL term, analytic and Monte Carlo"),
    ChecklistItem("p4.iwae", "Part 4 · ELBOFramework",
                  "IWAE-k bounds and the importance-sampled log p(x) of a trained model"),
    ChecklistItem("p4.vae", "Part 4 · ELBOFramework", "a real VAE trained on MNIST"),
    ChecklistItem("p5.tradeoff", "Part 5 · TwoForcesAnalysis",
                  "the β trade-off between reconstruction and regularization, as rate and "
                  "distortion"),
    ChecklistItem("p5.objectives", "Part 5 · TwoForcesAnalysis",
                  "beyond a fixed β: KL warm-up, free bits, capacity annealing", source="lab"),
    ChecklistItem("diffusion", "The bridge to diffusion",
                  "the diffusion bound as a sum of the ELBO's Gaussian KLs"),
    ChecklistItem("x.stability", "Excellence indicators",
                  "numerical stability: log space, named clamps, safe ranges measured"),
    ChecklistItem("x.edge_cases", "Excellence indicators",
                  "professional treatment of edge cases and error conditions", quoted=True),
    ChecklistItem("x.theory_practice", "Excellence indicators",
                  "connection between mathematical theory and optimization practice",
                  quoted=True),
    ChecklistItem("x.connections", "Excellence indicators",
                  "deep learning connections: GANs, flows, autoregressive models, diffusion",
                  quoted=True),
    ChecklistItem("x.statistical", "Excellence indicators",
                  "claims validated statistically (z-scores and tests with stated standard "
                  "errors)", kind="statistical"),
)

KEYS = frozenset(item.key for item in CHECKLIST)


def check_keys(keys: Iterable[str]) -> tuple[str, ...]:
    """``keys`` as a tuple, each a :data:`CHECKLIST` key; raises ``ValueError`` naming the
    unknown one."""
    keys = tuple(keys)
    for key in keys:
        if key not in KEYS:
            raise ValueError(f"unknown checklist item {key!r}; expected one of {sorted(KEYS)}")
    return keys


def coverage(validations: Sequence[dict]) -> list[dict]:
    """One row per :data:`CHECKLIST` item: the item, the sections its records were made in (in
    order of appearance), the records' names, how many passed, and the count per kind. An item
    no record serves has ``covered = False``."""
    rows = []
    for item in CHECKLIST:
        recs = [v for v in validations
                if item.key in v.get("serves", ()) or (item.kind and v.get("kind") == item.kind)]
        sections = list(dict.fromkeys(v.get("section", "") for v in recs if v.get("section")))
        rows.append({
            "item": item, "covered": bool(recs), "sections": sections,
            "checks": [v["name"] for v in recs], "passed": sum(bool(v["passed"]) for v in recs),
            "kinds": {k: sum(v.get("kind") == k for v in recs) for k in KINDS},
        })
    return rows


def appendix_html(validations: Sequence[dict]) -> str:
    """The checklist appendix as an HTML table: per item, its sections and the validations that
    cover it (passed / total, by kind, and their names); an uncovered item reads **MISSING**."""
    rows = coverage(validations)
    n_covered = sum(r["covered"] for r in rows)
    out = [
        f"<p><strong>{n_covered} of {len(rows)} checklist items</strong> have a section and at "
        "least one validation. <em>quoted</em>: the item quotes the handout; <em>lab</em>: an "
        "item the lab adds.</p>",
        "<style>table.elbolab-checklist td, table.elbolab-checklist th "
        "{vertical-align: top; text-align: left}</style>",
        '<table class="elbolab-checklist" style="font-size: 0.9em">',
        "<thead><tr><th>item</th><th>section(s)</th><th>validations</th></tr></thead><tbody>",
    ]
    group = None
    for r in rows:
        item = r["item"]
        if item.group != group:
            group = item.group
            out.append(f'<tr><th colspan="3">{escape(group)}</th></tr>')
        tag = " <em>(quoted)</em>" if item.quoted else " <em>(lab)</em>" if item.source == "lab" \
            else ""
        if not r["covered"]:
            out.append(f"<tr><td>{escape(item.text)}{tag}</td><td>—</td>"
                       "<td><strong>MISSING</strong></td></tr>")
            continue
        kinds = ", ".join(f"{n} {k}" for k, n in r["kinds"].items() if n)
        count = f"{r['passed']}/{len(r['checks'])} passed ({kinds})"
        if item.kind:  # served by every record of a kind: a count, not a list
            where, what = f"all {len(r['sections'])} sections", f"{count}, in every part"
        else:
            where = "<br>".join(escape(s) for s in r["sections"])
            what = count + "<ul>" + "".join(f"<li>{escape(c)}</li>" for c in r["checks"]) + "</ul>"
        out.append(f"<tr><td>{escape(item.text)}{tag}</td><td>{where}</td><td>{what}</td></tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


__all__ = ["CHECKLIST", "KEYS", "ChecklistItem", "appendix_html", "check_keys", "coverage"]
