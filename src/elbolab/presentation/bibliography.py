"""The book's references, and its citations in pandoc's syntax.

A chapter's Markdown cites a work by its key, as pandoc does: ``[@burda2016]`` renders as
"(Burda et al. 2016)", ``[@kingma2014, App. B; @rezende2014]`` as "(Kingma & Welling 2014,
App. B; Rezende, Mohamed & Wierstra 2014)" and a bare ``@ho2020`` as "Ho et al. (2020)"; each
name links to its entry on the book's reference page (:func:`render_citations`). A key that is
not in :data:`REFERENCES` raises ``KeyError`` when the book is built, so every citation of the
book resolves. Each entry carries the identifier a reader can follow: an arXiv id, a DOI or the
venue's page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class Reference:
    """One work: how the text names it (``short``, e.g. "Burda et al."), its year, its authors
    as printed in the list, title, venue, and one of ``arxiv`` / ``doi`` / ``url``."""

    short: str
    year: int
    authors: str
    title: str
    venue: str
    arxiv: str | None = None
    doi: str | None = None
    url: str | None = None

    def _address(self) -> tuple[str, str]:
        """(where the work can be read, the identifier as printed): its DOI, its arXiv id or
        its venue's page."""
        if self.doi:
            return f"https://doi.org/{self.doi}", f"doi:{self.doi}"
        if self.arxiv:
            return f"https://arxiv.org/abs/{self.arxiv}", f"arXiv:{self.arxiv}"
        return self.url or "", self.url or ""

    @property
    def link(self) -> str:
        """Where the work can be read: its DOI, its arXiv page or its venue's page."""
        return self._address()[0]

    @property
    def identifier(self) -> str:
        """The identifier as printed: ``doi:…``, ``arXiv:…`` or the page's address."""
        return self._address()[1]


REFERENCES: dict[str, Reference] = {
    "alemi2018": Reference(
        "Alemi et al.", 2018, "A. A. Alemi, B. Poole, I. Fischer, J. V. Dillon, R. A. Saurous "
        "and K. Murphy", "Fixing a broken ELBO", "ICML 2018", arxiv="1711.00464"),
    "bao2022": Reference(
        "Bao et al.", 2022, "F. Bao, C. Li, J. Zhu and B. Zhang", "Analytic-DPM: an analytic "
        "estimate of the optimal reverse variance in diffusion probabilistic models",
        "ICLR 2022", arxiv="2201.06503"),
    "bowman2016": Reference(
        "Bowman et al.", 2016, "S. R. Bowman, L. Vilnis, O. Vinyals, A. M. Dai, R. Jozefowicz "
        "and S. Bengio", "Generating sentences from a continuous space", "CoNLL 2016",
        arxiv="1511.06349"),
    "burda2016": Reference(
        "Burda et al.", 2016, "Y. Burda, R. Grosse and R. Salakhutdinov",
        "Importance weighted autoencoders", "ICLR 2016", arxiv="1509.00519"),
    "burgess2018": Reference(
        "Burgess et al.", 2018, "C. P. Burgess, I. Higgins, A. Pal, L. Matthey, N. Watters, "
        "G. Desjardins and A. Lerchner", "Understanding disentangling in β-VAE",
        "NeurIPS 2017 workshop on learning disentangled representations",
        arxiv="1804.03599"),
    "chatterjee2018": Reference(
        "Chatterjee & Diaconis", 2018, "S. Chatterjee and P. Diaconis",
        "The sample size required in importance sampling",
        "The Annals of Applied Probability 28(2), 1099–1135", doi="10.1214/17-AAP1326"),
    "cremer2018": Reference(
        "Cremer, Li & Duvenaud", 2018, "C. Cremer, X. Li and D. Duvenaud",
        "Inference suboptimality in variational autoencoders", "ICML 2018",
        arxiv="1801.03558"),
    "dinh2017": Reference(
        "Dinh, Sohl-Dickstein & Bengio", 2017, "L. Dinh, J. Sohl-Dickstein and S. Bengio",
        "Density estimation using Real NVP", "ICLR 2017", arxiv="1605.08803"),
    "germain2015": Reference(
        "Germain et al.", 2015, "M. Germain, K. Gregor, I. Murray and H. Larochelle",
        "MADE: masked autoencoder for distribution estimation", "ICML 2015",
        arxiv="1502.03509"),
    "goodfellow2014": Reference(
        "Goodfellow et al.", 2014, "I. Goodfellow, J. Pouget-Abadie, M. Mirza, B. Xu, "
        "D. Warde-Farley, S. Ozair, A. Courville and Y. Bengio", "Generative adversarial nets",
        "NeurIPS 2014", arxiv="1406.2661"),
    "grosse2015": Reference(
        "Grosse et al.", 2015, "R. B. Grosse, Z. Ghahramani and R. P. Adams",
        "Sandwiching the marginal likelihood using bidirectional Monte Carlo", "arXiv preprint",
        arxiv="1511.02543"),
    "higgins2017": Reference(
        "Higgins et al.", 2017, "I. Higgins, L. Matthey, A. Pal, C. Burgess, X. Glorot, "
        "M. Botvinick, S. Mohamed and A. Lerchner", "β-VAE: learning basic visual concepts "
        "with a constrained variational framework", "ICLR 2017",
        url="https://openreview.net/forum?id=Sy2fzU9gl"),
    "ho2020": Reference(
        "Ho et al.", 2020, "J. Ho, A. Jain and P. Abbeel",
        "Denoising diffusion probabilistic models", "NeurIPS 2020", arxiv="2006.11239"),
    "hoogeboom2021": Reference(
        "Hoogeboom et al.", 2021, "E. Hoogeboom, D. Nielsen, P. Jaini, P. Forré and M. Welling",
        "Argmax flows and multinomial diffusion: learning categorical distributions",
        "NeurIPS 2021", arxiv="2102.05379"),
    "jensen1906": Reference(
        "Jensen", 1906, "J. L. W. V. Jensen", "Sur les fonctions convexes et les inégalités "
        "entre les valeurs moyennes", "Acta Mathematica 30, 175–193",
        doi="10.1007/BF02418571"),
    "kingma2014": Reference(
        "Kingma & Welling", 2014, "D. P. Kingma and M. Welling",
        "Auto-encoding variational Bayes", "ICLR 2014", arxiv="1312.6114"),
    "kingma2016": Reference(
        "Kingma et al.", 2016, "D. P. Kingma, T. Salimans, R. Jozefowicz, X. Chen, "
        "I. Sutskever and M. Welling", "Improved variational inference with inverse "
        "autoregressive flow", "NeurIPS 2016", arxiv="1606.04934"),
    "kullback1951": Reference(
        "Kullback & Leibler", 1951, "S. Kullback and R. A. Leibler",
        "On information and sufficiency", "The Annals of Mathematical Statistics 22(1), 79–86",
        doi="10.1214/aoms/1177729694"),
    "neal2001": Reference(
        "Neal", 2001, "R. M. Neal", "Annealed importance sampling",
        "Statistics and Computing 11, 125–139", doi="10.1023/A:1008923215028"),
    "nichol2021": Reference(
        "Nichol & Dhariwal", 2021, "A. Nichol and P. Dhariwal",
        "Improved denoising diffusion probabilistic models", "ICML 2021", arxiv="2102.09672"),
    "nguyen2010": Reference(
        "Nguyen, Wainwright & Jordan", 2010, "X. Nguyen, M. J. Wainwright and M. I. Jordan",
        "Estimating divergence functionals and the likelihood ratio by convex risk "
        "minimization", "IEEE Transactions on Information Theory 56(11), 5847–5861",
        doi="10.1109/TIT.2010.2068870"),
    "nowozin2016": Reference(
        "Nowozin, Cseke & Tomioka", 2016, "S. Nowozin, B. Cseke and R. Tomioka",
        "f-GAN: training generative neural samplers using variational divergence "
        "minimization", "NeurIPS 2016", arxiv="1606.00709"),
    "rainforth2018": Reference(
        "Rainforth et al.", 2018, "T. Rainforth, A. R. Kosiorek, T. A. Le, C. J. Maddison, "
        "M. Igl, F. Wood and Y. W. Teh", "Tighter variational bounds are not necessarily "
        "better", "ICML 2018", arxiv="1802.04537"),
    "rezende2014": Reference(
        "Rezende, Mohamed & Wierstra", 2014, "D. J. Rezende, S. Mohamed and D. Wierstra",
        "Stochastic backpropagation and approximate inference in deep generative models",
        "ICML 2014", arxiv="1401.4082"),
    "rezende2015": Reference(
        "Rezende & Mohamed", 2015, "D. J. Rezende and S. Mohamed",
        "Variational inference with normalizing flows", "ICML 2015", arxiv="1505.05770"),
    "roeder2017": Reference(
        "Roeder et al.", 2017, "G. Roeder, Y. Wu and D. Duvenaud", "Sticking the landing: "
        "simple, lower-variance gradient estimators for variational inference",
        "NeurIPS 2017", arxiv="1703.09194"),
    "sonderby2016": Reference(
        "Sønderby et al.", 2016, "C. K. Sønderby, T. Raiko, L. Maaløe, S. K. Sønderby and "
        "O. Winther", "Ladder variational autoencoders", "NeurIPS 2016", arxiv="1602.02282"),
    "theis2016": Reference(
        "Theis, van den Oord & Bethge", 2016, "L. Theis, A. van den Oord and M. Bethge",
        "A note on the evaluation of generative models", "ICLR 2016", arxiv="1511.01844"),
    "tucker2019": Reference(
        "Tucker et al.", 2019, "G. Tucker, D. Lawson, S. Gu and C. J. Maddison",
        "Doubly reparameterized gradient estimators for Monte Carlo objectives", "ICLR 2019",
        arxiv="1810.04152"),
    "williams1992": Reference(
        "Williams", 1992, "R. J. Williams", "Simple statistical gradient-following algorithms "
        "for connectionist reinforcement learning", "Machine Learning 8, 229–256",
        doi="10.1007/BF00992696"),
    "wu2017": Reference(
        "Wu et al.", 2017, "Y. Wu, Y. Burda, R. Salakhutdinov and R. Grosse",
        "On the quantitative analysis of decoder-based generative models", "ICLR 2017",
        arxiv="1611.04273"),
}

#: ``[@key, locator; @key2]`` (a bracketed group) or a bare ``@key`` (not inside a word or an
#: e-mail address); keys are lower-case letters and digits
_GROUP = re.compile(r"\[(@[a-z][a-z0-9]*[^\]\n]*)\]")
_ONE = re.compile(r"@([a-z][a-z0-9]*)\s*(?:,\s*([^;@]+?))?\s*$")
_BARE = re.compile(r"(?<![\w@.])@([a-z]+[0-9]{4}[a-z]?)\b")


def reference(key: str) -> Reference:
    """The entry of ``key``; ``KeyError`` names the key and says where the entries live."""
    try:
        return REFERENCES[key]
    except KeyError:
        raise KeyError(f"citation @{key} is not in elbolab.presentation.bibliography."
                       "REFERENCES: add its entry there") from None


def _anchor(key: str, text: str, href: str) -> str:
    return f'<a class="cite" href="{escape(href)}#ref-{key}">{escape(text)}</a>'


def render_citations(markdown: str, href: str = "references.html",
                     cited: list[str] | None = None) -> str:
    """``markdown`` with its pandoc citations as links to ``href#ref-<key>``: ``[@a, p. 3;
    @b]`` → "(A 2014, p. 3; B 2016)", ``@a`` → "A (2014)". ``cited`` collects the keys in
    order of appearance. Unknown keys raise ``KeyError`` (:func:`reference`)."""
    cited = cited if cited is not None else []

    def group(match: re.Match) -> str:
        items = []
        for part in match.group(1).split(";"):
            one = _ONE.match(part.strip())
            if one is None:
                return match.group(0)  # not a citation group: leave the text alone
            key, locator = one.group(1), one.group(2)
            ref = reference(key)
            cited.append(key)
            items.append(_anchor(key, f"{ref.short} {ref.year}", href)
                         + (f", {escape(locator.strip())}" if locator else ""))
        return "(" + "; ".join(items) + ")"

    def bare(match: re.Match) -> str:
        key = match.group(1)
        ref = reference(key)
        cited.append(key)
        return _anchor(key, f"{ref.short} ({ref.year})", href)

    return _BARE.sub(bare, _GROUP.sub(group, markdown))


def references_html(cited_by: dict[str, list[tuple[str, str]]]) -> str:
    """The reference list as HTML: every entry of :data:`REFERENCES` that the book cites,
    sorted by author, with its link and the chapters that cite it (``cited_by``: key →
    [(chapter label, page href), …])."""
    rows = []
    for key in sorted(cited_by, key=lambda k: (REFERENCES[k].short, REFERENCES[k].year)):
        ref = REFERENCES[key]
        where = ", ".join(f'<a href="{escape(h)}">{escape(label)}</a>'
                          for label, h in cited_by[key])
        rows.append(
            f'<li id="ref-{key}"><span class="ref-authors">{escape(ref.authors)}</span> '
            f"({ref.year}). <i>{escape(ref.title)}</i>. {escape(ref.venue)}. "
            f'<a class="ref-link" href="{escape(ref.link)}">{escape(ref.identifier)}</a>'
            f'<span class="ref-cited"> Cited in {where}.</span></li>')
    return '<ol class="references">\n' + "\n".join(rows) + "\n</ol>"


__all__ = ["REFERENCES", "Reference", "reference", "references_html", "render_citations"]
