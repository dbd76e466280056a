"""The lab's checklist: the handout's own items, verbatim, and the validations that show each.

Source: ``shared/handout/lab3-handout.md`` (Lab 3, "Mathematical Foundations of Generative
Models"). :data:`CHECKLIST` holds, word for word, every item of its Submission Requirements
(Mathematical Implementations, Theoretical Understanding, Validation Results, Mathematical
Rigor), every row of its Evaluation Criteria table with its points, its Success Metrics
(minimum requirements and excellence indicators) and every one of its Common Mathematical
Pitfalls; then, apart (``source="lab"``), the items the lab adds.

Each handout item names the specific validations that show it (``checks``: substrings of
validation names, so that a renamed or removed validation leaves the item uncovered and the
test of the quick lab fails) or, where no number can show it, says why (``no_check``).
Each item the lab adds is served by the records of the sections that name its key
(``log.section(title, *keys)`` in a chapter) or by every record of a ``kind``.
:func:`coverage` joins the items with a run's records; :func:`appendix_html` renders the join
as the last appendix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from .validation import KINDS, readable


@dataclass(frozen=True)
class ChecklistItem:
    """One item: ``key``, the ``group`` it belongs to (the handout's heading), its ``text``
    (verbatim for the handout's items), ``source`` (``"handout"`` or ``"lab"``), ``points``
    (an Evaluation Criteria row's), the validations that show it (``checks``: substrings of
    validation names; or ``kind``: every record of that kind; or, for the lab's items, the
    records whose section serves ``key``), and ``no_check``: why no validation can show it."""

    key: str
    group: str
    text: str
    source: str = "handout"
    checks: tuple[str, ...] = ()
    kind: str | None = None
    points: int | None = None
    no_check: str = ""


_IMPL = "Submission Requirements · Mathematical Implementations"
_THEORY = "Submission Requirements · Theoretical Understanding"
_VALID = "Submission Requirements · Validation Results"
_RIGOR = "Submission Requirements · Mathematical Rigor"
_CRIT = "Evaluation Criteria (points)"
_MIN = "Success Metrics · Minimum Requirements"
_EXC = "Success Metrics · Excellence Indicators"
_PROB = "Common Mathematical Pitfalls · Probability Theory Errors"
_IMPLI = "Common Mathematical Pitfalls · Implementation Issues"
_CONC = "Common Mathematical Pitfalls · Conceptual Misunderstandings"
_LAB = "The lab's own items (not in the handout)"

# the validations that several items share, by name
_NAIVE_FAILS = ("naive MC error at d=32", "d = 32: naive MC misses",
                "naive MC's reported error is far too small")
_KL_THREE = ("KLDivergenceBuilder.gaussian_kl_closed_form",
             "KLDivergenceBuilder.standard_normal_kl", "KLDivergenceBuilder.monte_carlo_kl")
_ASYMMETRY = ("KL(p||q) and KL(q||p) differ", "each fit wins its own direction",
              "reverse-KL diagonal fit to a correlated Gaussian")
_JENSEN = ("Monte Carlo E[log X] within 4 SE", "measured Jensen gap vs exact")
_ELBO_PARTS = ("ELBOFramework.reparameterize", "ELBOFramework.reconstruction_loss",
               "ELBOFramework.kl_regularization", "ELBOFramework.compute_elbo")
_FORCES = ("the two forces oppose each other", "rate-distortion chords between neighbours")
_THEORY_PRACTICE = ("written-out backward pass = autograd",
                    "closed-form ELBO gradient = autograd",
                    "objectives' penalties = the papers' formulas")
_STABILITY = ("error in every documented safe range", "NaN/inf where the true value")

CHECKLIST: tuple[ChecklistItem, ...] = (
    # -- Submission Requirements ---------------------------------------------------------------
    ChecklistItem("impl.intractable", _IMPL,
                  "Complete `IntractableLikelihoodDemo` showing Monte Carlo failure",
                  checks=("IntractableLikelihoodDemo.sample_prior",
                          "IntractableLikelihoodDemo.approximate_marginal_likelihood",
                          *_NAIVE_FAILS)),
    ChecklistItem("impl.kl", _IMPL,
                  "All KL divergence methods with analytical and numerical validation",
                  checks=(*_KL_THREE, "KLDivergenceBuilder.gaussian_kl_closed_form vs torch",
                          "KLDivergenceBuilder.monte_carlo_kl within 4 SE")),
    ChecklistItem("impl.jensen", _IMPL,
                  "Jensen's inequality demonstrations with geometric visualization",
                  checks=_JENSEN),
    ChecklistItem("impl.elbo", _IMPL, "Full `ELBOFramework` with all components working",
                  checks=_ELBO_PARTS),
    ChecklistItem("impl.beta", _IMPL, "β-VAE analysis showing force balance effects",
                  checks=("rate non-increasing in beta", "distortion non-decreasing in beta",
                          *_FORCES)),
    ChecklistItem("theory.derivation", _THEORY,
                  "Step-by-step derivation of ELBO from Jensen's inequality",
                  checks=("ELBO gap equals KL to posterior", "ELBO <= log p(x) for every q")),
    ChecklistItem("theory.asymmetry", _THEORY,
                  "Explanation of KL asymmetry with practical implications", checks=_ASYMMETRY),
    ChecklistItem("theory.tradeoff", _THEORY,
                  "Analysis of reconstruction vs regularization tradeoff",
                  checks=("rate non-increasing in beta", "distortion non-decreasing in beta",
                          "beta = 1, the ELBO itself, has the best test ELBO")),
    ChecklistItem("theory.practice", _THEORY,
                  "Connection between mathematical theory and optimization practice",
                  checks=_THEORY_PRACTICE),
    ChecklistItem("valid.kl", _VALID, "Numerical verification of closed-form vs Monte Carlo KL",
                  checks=("KLDivergenceBuilder.monte_carlo_kl within 4 SE",
                          "MC KL: spread of replicate estimates",
                          "full-covariance MC KL within 4 SE")),
    ChecklistItem("valid.reparam", _VALID, "Statistical validation of reparameterization trick",
                  checks=("reparameterized z: mean", "reparameterized z: variance",
                          "Kolmogorov-Smirnov p-value")),
    ChecklistItem("valid.elbo", _VALID, "ELBO decomposition consistency checks",
                  checks=("ELBO = log N(x; decoder(z)) - KL(q || N(0, I))",
                          "ELBOFramework.compute_elbo", "ELBO gap equals KL to posterior",
                          "Monte Carlo ELBO within 4 SE of the closed form")),
    ChecklistItem("valid.forces", _VALID, "β-VAE force balance demonstrations", checks=_FORCES),
    ChecklistItem("rigor.formulas", _RIGOR, "Correct implementation of all probability formulas",
                  kind="oracle"),
    ChecklistItem("rigor.log_space", _RIGOR,
                  "Proper handling of log-space computations and numerical stability",
                  checks=("probability-space average underflows",
                          "log-space estimate at D=784", *_STABILITY)),
    ChecklistItem("rigor.comments", _RIGOR, "Clear mathematical comments explaining each step",
                  no_check="a property of the text, read rather than measured: each chapter "
                           "shows the library's source of a formula beside its equation, and "
                           "every formula's docstring states the equation it implements"),
    ChecklistItem("rigor.edge_cases", _RIGOR,
                  "Professional treatment of edge cases and error conditions",
                  checks=("bad input raises a clear error",)),
    # -- Evaluation Criteria ---------------------------------------------------------------------
    ChecklistItem("crit.intractable", _CRIT,
                  "Intractable Demo — Clear demonstration of Monte Carlo failure", points=20,
                  checks=_NAIVE_FAILS),
    ChecklistItem("crit.kl", _CRIT,
                  "KL Divergence — All three methods working, asymmetry analysis", points=25,
                  checks=(*_KL_THREE, *_ASYMMETRY)),
    ChecklistItem("crit.jensen", _CRIT,
                  "Jensen's Inequality — Geometric and statistical demonstrations", points=15,
                  checks=_JENSEN),
    ChecklistItem("crit.elbo", _CRIT,
                  "ELBO Framework — Complete implementation with training demo", points=30,
                  checks=(*_ELBO_PARTS, "training improves the test ELBO")),
    ChecklistItem("crit.insight", _CRIT,
                  "Mathematical Insight — Deep understanding of theory-practice connection",
                  points=10, checks=_THEORY_PRACTICE),
    # -- Success Metrics -------------------------------------------------------------------------
    ChecklistItem("min.formulas", _MIN, "All mathematical functions implement correct formulas",
                  kind="oracle"),
    ChecklistItem("min.mc_failure", _MIN, "Monte Carlo demonstrates clear failure modes",
                  checks=(*_NAIVE_FAILS, "probability-space average underflows")),
    ChecklistItem("min.kl", _MIN, "KL implementations match analytical solutions",
                  checks=("KLDivergenceBuilder.gaussian_kl_closed_form vs torch",
                          "KLDivergenceBuilder.standard_normal_kl = sum of torch",
                          "full-covariance KL vs torch.distributions")),
    ChecklistItem("min.curves", _MIN, "ELBO training shows meaningful learning curves",
                  checks=("training improves the test ELBO", "learning curve")),
    ChecklistItem("exc.stability", _EXC, "Comprehensive numerical stability analysis",
                  checks=(*_STABILITY, "textbook formula fails")),
    ChecklistItem("exc.visuals", _EXC, "Creative visualizations of mathematical concepts",
                  no_check="judged by looking: every figure is numbered, captioned with the "
                           "finding it shows, and saved under figures/"),
    ChecklistItem("exc.forces", _EXC, "Insightful analysis of β-VAE force dynamics",
                  checks=(*_FORCES, "capacity annealing", "free bits raise the rate")),
    ChecklistItem("exc.diffusion", _EXC, "Clear bridge to diffusion model mathematics",
                  checks=("test bed: ELBO <= exact log p_theta(x0)",
                          "sampled bound (core gaussian_kl) = closed form",
                          "posterior q(x_{t-1}|x_t,x_0) = Gaussian conditioning")),
    # -- Common Mathematical Pitfalls ------------------------------------------------------------
    ChecklistItem("pit.log0", _PROB,
                  "Computing `log(0)` in likelihood calculations (add small epsilon)",
                  checks=("pitfall: log(0)", "textbook formula fails: ε-clamped BCE")),
    ChecklistItem("pit.direction", _PROB, "Wrong direction in KL divergence (remember asymmetry!)",
                  checks=("each fit wins its own direction", "narrow q: KL(p||q) / KL(q||p)")),
    ChecklistItem("pit.sum", _PROB, "Forgetting to sum over appropriate dimensions",
                  checks=("pitfall: a mean over pixels",
                          "bernoulli_log_likelihood = torch.distributions Bernoulli",
                          "KLDivergenceBuilder.standard_normal_kl = sum of torch")),
    ChecklistItem("pit.logvar", _PROB,
                  "Using variance instead of log-variance in reparameterization",
                  checks=("pitfall: the variance passed as log-variance",
                          "reparameterize with the log-variance: sample variance")),
    ChecklistItem("pit.gradients", _IMPLI,
                  "Not preserving gradients through sampling (reparameterization essential)",
                  checks=("pitfall: a sample drawn without the trick",
                          "reparameterized draws: mean gradient of z^2",
                          "gradients reach every encoder and decoder parameter")),
    ChecklistItem("pit.broadcast", _IMPLI, "Incorrect broadcasting in batch operations",
                  checks=("pitfall: (N,) minus (N, 1)",)),
    ChecklistItem("pit.constant", _IMPLI,
                  "Missing normalization constants in Gaussian log-likelihood",
                  checks=("pitfall: the Gaussian log-likelihood without",
                          "gaussian_log_likelihood = scipy.stats.norm.logpdf")),
    ChecklistItem("pit.extreme", _IMPLI, "Numerical instability in extreme parameter ranges",
                  checks=(*_STABILITY, "textbook formula fails")),
    ChecklistItem("pit.symmetric", _CONC, "Thinking KL divergence is symmetric (it's not!)",
                  checks=("KL(p||q) and KL(q||p) differ",
                          "equal widths: KL(p||q) = KL(q||p)")),
    ChecklistItem("pit.mse", _CONC, "Confusing reconstruction loss with mean squared error",
                  checks=("pitfall: MSE is not the reconstruction term",)),
    ChecklistItem("pit.jensen", _CONC, "Not understanding why Jensen's creates a lower bound",
                  checks=("ELBO <= log p(x) for every q", "zero gap when q is the true posterior")),
    ChecklistItem("pit.beta", _CONC, "Missing the connection between β and force balance",
                  checks=_FORCES),
    # -- the lab's own items ---------------------------------------------------------------------
    ChecklistItem("p1.integral", _LAB,
                  "p(x) = ∫ p(x|z) p(z) dz computed exactly where it can be (linear-Gaussian "
                  "models, quadrature)", source="lab"),
    ChecklistItem("p1.naive_mc", _LAB,
                  "naive Monte Carlo's failure as the latent dimension grows, against e^KL",
                  source="lab"),
    ChecklistItem("p1.log_space", _LAB, "averaging in log space (log-sum-exp), measured",
                  source="lab"),
    ChecklistItem("p1.importance", _LAB,
                  "better estimators: importance sampling, IWAE-k, the ELBO", source="lab"),
    ChecklistItem("p2.closed_form", _LAB,
                  "closed-form KL between Gaussians, diagonal and full covariance", source="lab"),
    ChecklistItem("p2.standard_normal", _LAB, "KL(q ‖ N(0, I)) against torch.distributions",
                  source="lab"),
    ChecklistItem("p2.monte_carlo", _LAB,
                  "Monte Carlo KL with an honest standard error", source="lab"),
    ChecklistItem("p2.asymmetry", _LAB,
                  "mode covering vs mode seeking, in 1-D and 2-D", source="lab"),
    ChecklistItem("p3.jensen", _LAB,
                  "JensenInequalityDemo — the lab's own class (the handout names the "
                  "demonstration, not a class): E[log X] ≤ log E[X] with exact sides",
                  source="lab"),
    ChecklistItem("p3.elbo", _LAB, "the ELBO derived from Jensen: ELBO ≤ log p(x)",
                  source="lab"),
    ChecklistItem("p3.gap", _LAB, "the gap: log p(x) − ELBO = KL(q(z|x) ‖ p(z|x))",
                  source="lab"),
    ChecklistItem("p4.reparameterization", _LAB,
                  "the reparameterization trick and the variance of gradient estimators",
                  source="lab"),
    ChecklistItem("p4.elbo", _LAB, "the ELBO's pieces against torch.distributions",
                  source="lab"),
    ChecklistItem("p4.iwae", _LAB,
                  "IWAE-k bounds, AIS/BDMC and the importance-sampled log p(x) of a trained "
                  "model", source="lab"),
    ChecklistItem("p4.vae", _LAB, "a real VAE trained on MNIST", source="lab"),
    ChecklistItem("p5.tradeoff", _LAB,
                  "the β trade-off as a measured rate–distortion curve", source="lab"),
    ChecklistItem("p5.objectives", _LAB,
                  "beyond a fixed β: KL warm-up, free bits, capacity annealing", source="lab"),
    ChecklistItem("diffusion", _LAB,
                  "the diffusion bound as a sum of the ELBO's Gaussian KLs and a "
                  "reconstruction term", source="lab"),
    ChecklistItem("x.stability", _LAB,
                  "numerical stability: log space, named clamps, safe ranges measured",
                  source="lab"),
    ChecklistItem("x.edge_cases", _LAB,
                  "bad input: one clear error naming the argument or file", source="lab"),
    ChecklistItem("x.theory_practice", _LAB,
                  "theory and optimization practice: exact gradients, written-out backward "
                  "passes, training objectives", source="lab"),
    ChecklistItem("x.connections", _LAB,
                  "connections measured: a GAN discriminator's divergence bounds, an "
                  "autoregressive model, a flow and two diffusions beside the VAE on one "
                  "binarized MNIST",
                  source="lab"),
    ChecklistItem("x.statistical", _LAB,
                  "claims validated statistically (z-scores and tests with stated standard "
                  "errors)", source="lab", kind="statistical"),
)

KEYS = frozenset(item.key for item in CHECKLIST)
#: The keys a chapter's ``log.section`` may name: the lab's own items
SECTION_KEYS = frozenset(item.key for item in CHECKLIST if item.source == "lab")


def matches(item: ChecklistItem, v: dict) -> bool:
    """Whether the validation record ``v`` shows ``item``."""
    if item.checks:
        return any(c in v["name"] for c in item.checks)
    if item.kind:
        return v.get("kind") == item.kind
    return item.key in v.get("serves", ())


def coverage(validations: Sequence[dict]) -> list[dict]:
    """One row per :data:`CHECKLIST` item: the item, where its records were made (chapter and
    section, in order of appearance), the records' names, how many passed, the count per kind,
    and which of its ``checks`` matched nothing. An item no record shows has
    ``covered = False`` (an item with ``no_check`` says why instead)."""
    rows = []
    for item in CHECKLIST:
        recs = [v for v in validations if matches(item, v)]
        sections = list(dict.fromkeys(
            (f"{v['chapter']} · " if v.get("chapter") else "") + v.get("section", "")
            for v in recs if v.get("section")))
        rows.append({
            "item": item, "covered": bool(recs), "sections": sections,
            "checks": [v["name"] for v in recs], "passed": sum(bool(v["passed"]) for v in recs),
            "kinds": {k: sum(v.get("kind") == k for v in recs) for k in KINDS},
            "unmatched": [c for c in item.checks if not any(c in v["name"] for v in validations)],
        })
    return rows


def appendix_html(validations: Sequence[dict]) -> str:
    """The checklist appendix as an HTML table: per item (verbatim, grouped under the
    handout's headings, the lab's own items last), where it is shown and the validations that
    show it (passed / total, by kind, and their names); an uncovered item reads **MISSING**,
    an item no number can show says why."""
    rows = coverage(validations)
    handout = [r for r in rows if r["item"].source == "handout"]
    n_covered = sum(r["covered"] for r in handout)
    n_none = sum(bool(r["item"].no_check) for r in handout)
    out = [
        f"<p><strong>{n_covered} of {len(handout)} handout items</strong> are shown by at least "
        f"one validation of this run; {n_none} cannot be shown by a number, and say why. "
        "The handout's items are quoted verbatim; the lab's own items follow, apart.</p>",
        '<div class="table-scroll"><table class="elbolab-checklist">',
        "<thead><tr><th>item</th><th>shown in</th><th>validations</th></tr></thead><tbody>",
    ]
    group = None
    for r in rows:
        item = r["item"]
        if item.group != group:
            group = item.group
            out.append(f'<tr><th colspan="3">{escape(group)}</th></tr>')
        text = escape(item.text) + (f" <em>({item.points} points)</em>" if item.points else "")
        if not r["covered"]:
            why = (f"no validation: {escape(item.no_check)}" if item.no_check
                   else "<strong>MISSING</strong>")
            out.append(f"<tr><td>{text}</td><td>—</td><td>{why}</td></tr>")
            continue
        kinds = ", ".join(f"{n} {k}" for k, n in r["kinds"].items() if n)
        n = len(r["checks"])
        count = (f"{n} check{'s' if n > 1 else ''}, {r['passed']} passed ({kinds})")
        if item.kind:  # served by every record of a kind: a count, not a list
            where, what = f"all {len(r['sections'])} sections", f"{count}, in every chapter"
        else:
            where = "<br>".join(escape(s) for s in r["sections"])
            opened = "" if r["passed"] == n else " open"
            what = (f'<details class="checks"{opened}><summary>{count}</summary><ul>'
                    + "".join(f"<li>{escape(readable(c))}</li>" for c in r["checks"])
                    + "</ul></details>")
        out.append(f'<tr><td>{text}</td><td data-label="shown in">{where}</td>'
                   f'<td data-label="validations">{what}</td></tr>')
    out.append("</tbody></table></div>")
    return "\n".join(out)


__all__ = ["CHECKLIST", "KEYS", "SECTION_KEYS", "ChecklistItem", "appendix_html",
           "coverage", "matches"]
