"""The report: the executed chapters as a small offline book.

``write_book`` turns the chapters' executed notebooks into a folder of static pages,
``book/`` inside the lab's output folder, and ``report.html`` beside it, the book's front page
(its links resolved inside ``book/``):

- ``book/index.html`` — the front page: the run (date, commit, seed, mode, device), the
  contents with each chapter's checks, and how the book reads;
- ``book/<chapter>.html`` — one page per chapter: a header with the run, a sidebar of the
  chapters and the current chapter's sections (the section being read is highlighted as one
  scrolls), the chapter, previous/next links;
- ``book/references.html`` — the works cited, each with its DOI or arXiv id and the chapters
  that cite it (:mod:`.bibliography`);
- ``book/book.css`` and the math font (STIX Two Math, SIL Open Font License, shipped beside
  the template): nothing is fetched from the network.

The Markdown of each chapter is rendered at build time: pandoc-style citations
(``[@burda2016]``) become links to the reference list, figure references (``@fig:name``)
become "Figure 4.2" links to the figure, wherever it is in the book, and ``$…$`` / ``$$…$$``
become MathML (``latex2mathml``) polished for browsers' MathML Core: letters of
``\\mathbb``/``\\mathcal``/``\\mathbf`` as their Unicode characters (𝔼, 𝒩, 𝐱), ``log``/``exp``
set as operators, stretchy braces, display math scrolling on its own on narrow screens.
Figures are the chapters' PNGs (saved at twice their display size), linked from
``figures/`` with their captions as alt text. Outputs that carry nothing (a progress bar's
trailing newline) and the cells of parameters (paths of the machine) are left out.
"""

from __future__ import annotations

import copy
import re
import shutil
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from ..io import atomic_write_text
from .bibliography import references_html, render_citations
from .chapters import ChapterSpec, figure_html

if TYPE_CHECKING:
    import nbformat

TEMPLATES = Path(__file__).with_name("templates")
STATIC = TEMPLATES / "elbolab_book" / "static"
TITLE = "Lab 3 — The Evidence Lower Bound, executable"
#: The book's folder inside the lab's output folder
BOOK_DIR = "book"
#: The cells the book leaves out: the chapter's default parameters and the injected ones
HIDDEN_TAGS = frozenset({"parameters", "injected-parameters"})

# $$display$$ or $inline$ (an inline one may wrap onto the next line, never across a blank
# line); code spans and fences are left alone
_MATH = re.compile(r"\$\$(.+?)\$\$|\$((?:[^$\n]|\n(?!\s*\n))+?)\$", re.S)
_CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)
_FIGREF = re.compile(r"@fig:([\w-]+)")

# ---------------------------------------------------------------------------------------------
# mathematics


def _alphabet(upper: int, lower: int | None, holes: dict[str, str]) -> dict[str, str]:
    table = {chr(65 + i): chr(upper + i) for i in range(26)}
    if lower is not None:
        table.update({chr(97 + i): chr(lower + i) for i in range(26)})
    table.update(holes)  # letters Unicode had encoded before the block (ℝ, ℒ, …)
    return table


#: MathML Core renders ``mathvariant`` only as "normal": the other variants become the
#: letters of Unicode's Mathematical Alphanumeric Symbols block
_VARIANTS = {
    "double-struck": _alphabet(0x1D538, 0x1D552, dict(zip("CHNPQRZ", "ℂℍℕℙℚℝℤ", strict=True))),
    "script": _alphabet(0x1D49C, 0x1D4B6, dict(zip("BEFHILMRego", "ℬℰℱℋℐℒℳℛℯℊℴ", strict=True))),
    "bold": _alphabet(0x1D400, 0x1D41A, {}),
    "bold-italic": _alphabet(0x1D468, 0x1D482, {}),
    "fraktur": _alphabet(0x1D504, 0x1D51E, dict(zip("CHIRZ", "ℭℌℑℜℨ", strict=True))),
    "bold-fraktur": _alphabet(0x1D56C, 0x1D586, {}),
    "sans-serif": _alphabet(0x1D5A0, 0x1D5BA, {}),
}
_VARIANT_MI = re.compile(r'<mi mathvariant="([a-z-]+)">([A-Za-z])</mi>')
#: TeX's operator names: upright, and a thin space before an operand that is not a bracket
_OPERATORS = "log|exp|ln|det|max|min|sup|inf|arg|lim|tanh|sin|cos|Pr|sgn"
_OPERATOR = re.compile(rf"(?<!<msub>)(?<!<msup>)(?<!<munder>)<mi>({_OPERATORS})</mi>"
                       r"(?!\s*<mo[^>]*>\s*(?:\(|&#x00028;|\[|&#x0005B;|\||&#x0007C;))")
#: An inline formula longer than this many characters may not fit a phone's line: it gets a
#: box that scrolls on its own (MathML cannot break a formula across lines)
WIDE_INLINE = 24
_BRACE = re.compile(r"<mo>(&#x023DF;|&#x23DF;|&#x023DE;|&#x23DE;)</mo>")


def polish_mathml(mathml: str) -> str:
    """``latex2mathml``'s output made right for MathML Core (what Chromium, Firefox and
    Safari render): variant letters as Unicode characters (𝔼 for ``\\mathbb E``, 𝒩 for
    ``\\mathcal N``), operator names followed by TeX's thin space, over/underbraces stretchy,
    display math in a box that scrolls on its own when it is wider than the page."""
    def letter(match: re.Match) -> str:
        table = _VARIANTS.get(match.group(1))
        return f"<mi>{table[match.group(2)]}</mi>" if table else match.group(0)

    mathml = _VARIANT_MI.sub(letter, mathml)
    mathml = _OPERATOR.sub(r'<mi>\1</mi><mspace width="0.1667em"></mspace>', mathml)
    mathml = _BRACE.sub(r'<mo stretchy="true">\1</mo>', mathml)
    if 'display="block"' in mathml:
        mathml = f'<span class="math-display">{mathml}</span>'
    elif len(re.sub(r"<[^>]+>", "", mathml)) > WIDE_INLINE:
        mathml = f'<span class="math-wide">{mathml}</span>'
    return mathml


def _to_mathml(match: re.Match) -> str:
    from latex2mathml.converter import convert

    display = match.group(1) is not None
    tex = (match.group(1) if display else match.group(2)).strip()
    # latex2mathml lays out align* as a table but reads aligned's & and \\ as text
    tex = tex.replace("{aligned}", "{align*}")
    try:
        return polish_mathml(convert(tex, display="block" if display else "inline"))
    except Exception:  # noqa: BLE001 - an unsupported command: show the TeX, never lose text
        return f"<code>{escape(tex)}</code>"


def _outside_code(text: str, *subs) -> str:
    parts = _CODE.split(text)
    for i in range(0, len(parts), 2):  # the even parts lie outside code
        for sub in subs:
            parts[i] = sub(parts[i])
    return "".join(parts)


def markdown_math_to_mathml(text: str) -> str:
    """``text`` (Markdown) with every ``$…$`` and ``$$…$$`` outside code replaced by MathML
    (``<math>`` elements; display math with ``display="block"``, :func:`polish_mathml`). TeX
    that the converter cannot read is kept, as code, rather than dropped."""
    return _outside_code(text, lambda s: _MATH.sub(_to_mathml, s))


# ---------------------------------------------------------------------------------------------
# figures, references and outputs


@dataclass(frozen=True)
class FigureRef:
    """A figure of the book: its label ("Figure 4.2"), the page it is on, its caption."""

    label: str
    page: str
    caption: str


def figure_index(pages: list[tuple[str, nbformat.NotebookNode]]) -> dict[str, FigureRef]:
    """Every figure that the executed chapters (page, notebook) show, by name: their
    outputs' ``elbolab`` metadata, written by
    :meth:`~elbolab.presentation.chapters.Chapter.show`."""
    index = {}
    for page, nb in pages:
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                meta = out.get("metadata", {}).get("elbolab", {})
                if "figure" in meta:
                    index[meta["figure"]] = FigureRef(meta["label"], page, meta["caption"])
    return index


def render_figure_refs(text: str, figures: dict[str, FigureRef], page: str) -> str:
    """``@fig:name`` → a link "Figure 4.2" to the figure (on this page or another); a figure
    this run did not make (a chapter run alone) reads "a figure of another chapter"."""
    def ref(match: re.Match) -> str:
        fig = figures.get(match.group(1))
        if fig is None:
            return '<span class="figref-missing">a figure of a chapter not in this run</span>'
        href = ("" if fig.page == page else fig.page) + f"#fig-{match.group(1)}"
        return f'<a class="figref" href="{escape(href)}">{fig.label}</a>'

    return _FIGREF.sub(ref, text)


def link_figure_refs(nb: nbformat.NotebookNode) -> None:
    """In an executed notebook (the merged one), each ``@fig:name`` of the text becomes the
    Markdown link "[Figure 4.2](#fig-name)" to the figure (the book renders its own links,
    :func:`render_figure_refs`)."""
    figures = figure_index([("", nb)])
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = _FIGREF.sub(
                lambda m: (f"[{figures[m.group(1)].label}](#fig-{m.group(1)})"
                           if m.group(1) in figures else m.group(0)), cell.source)


def _is_blank_stream(out) -> bool:
    return out.get("output_type") == "stream" and not out.get("text", "").strip()


def clean_notebook(nb: nbformat.NotebookNode, page: str, figures: dict[str, FigureRef],
                   cited: list[str], fig_src: str = "../figures") -> nbformat.NotebookNode:
    """A copy of an executed chapter ready to render: the parameter cells gone, blank streams
    gone, figures linked from ``fig_src`` (not embedded), the Markdown's figure references,
    citations and mathematics rendered (``cited`` collects the keys cited)."""
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells
                if not HIDDEN_TAGS & set(c.get("metadata", {}).get("tags", []))]
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = _outside_code(
                cell.source,
                lambda s: render_figure_refs(s, figures, page),
                lambda s: render_citations(s, "references.html", cited),
                lambda s: _MATH.sub(_to_mathml, s))
        elif cell.cell_type == "code":
            outputs = []
            for out in cell.outputs:
                if _is_blank_stream(out):
                    continue
                meta = out.get("metadata", {}).get("elbolab", {})
                if "figure" in meta:
                    name = meta["figure"]
                    out = copy.deepcopy(out)
                    out["data"] = {"text/html": figure_html(
                        name, meta["label"], meta["caption"], f"{fig_src}/{name}.png",
                        meta["width"], meta["height"]),
                        "text/plain": f"{meta['label']}. {meta['caption']}"}
                outputs.append(out)
            cell.outputs = outputs
    return nb


# ---------------------------------------------------------------------------------------------
# pages

_NS0 = re.compile(r"(</?)ns0:|\sxmlns:ns0=")
_HEADING = re.compile(r'<h([12]) id="([^"]+)"[^>]*>(.*?)</h\1>', re.S)
_ANCHOR_LINK = re.compile(r'<a class="anchor-link"[^>]*>.*?</a>', re.S)


def fix_namespaces(html: str) -> str:
    """Drop the ``ns0:`` prefix that nbconvert's heading anchors (ElementTree) give the MathML
    inside a heading: browsers render ``<ns0:math>`` as text."""
    return _NS0.sub(lambda m: m.group(1) if m.group(1) else " xmlns=", html)


def sections(body: str) -> list[tuple[str, str]]:
    """The ``##`` sections of a chapter's body: (id, title as HTML, anchor link removed)."""
    return [(ident, _ANCHOR_LINK.sub("", inner).strip())
            for level, ident, inner in _HEADING.findall(body) if level == "2"]


def render_body(nb: nbformat.NotebookNode) -> str:
    """The HTML of a cleaned chapter's cells (:func:`clean_notebook`), namespaces fixed."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="elbolab_book", extra_template_basedirs=[
        str(TEMPLATES)], exclude_anchor_links=False)
    body, _ = exporter.from_notebook_node(nb)
    return fix_namespaces(body)


@dataclass
class BookChapter:
    """One chapter as the book shows it: its spec, its executed notebook (``None`` when it did
    not run), its checks passed and total, its error."""

    spec: ChapterSpec
    nb: nbformat.NotebookNode | None
    passed: int = 0
    total: int = 0
    error: str | None = None
    seconds: float = 0.0
    reused: bool = False
    body: str = ""
    sections: list[tuple[str, str]] = field(default_factory=list)

    @property
    def page(self) -> str:
        return f"{self.spec.slug}.html"

    @property
    def short(self) -> str:
        """The title without "Appendix A1 —" (the sidebar shows the id)."""
        return re.sub(r"^Appendix \w+ — ", "", self.spec.title)


_SCROLL_SPY = """<script>
// the sidebar marks the section being read (no network, nothing else)
(function () {
  const links = new Map();
  document.querySelectorAll('nav.toc-side a.section').forEach(a => links.set(a.hash.slice(1), a));
  const seen = new Set();
  const mark = () => {
    const ids = [...links.keys()].filter(id => seen.has(id));
    links.forEach(a => a.classList.remove('reading'));
    if (ids.length) links.get(ids[0]).classList.add('reading');
  };
  const io = new IntersectionObserver(es => {
    es.forEach(e => e.isIntersecting ? seen.add(e.target.id) : seen.delete(e.target.id));
    mark();
  }, {rootMargin: '0px 0px -60% 0px'});
  links.forEach((a, id) => { const h = document.getElementById(id); if (h) io.observe(h); });
})();
</script>"""


def _toc(chapters: list[BookChapter], current: str | None) -> str:
    items = [f'<li class="{"current" if current == "index.html" else ""}">'
             '<a href="index.html">Contents and run</a></li>']
    for c in chapters:
        here = c.page == current
        sub = ""
        if here and c.sections:
            sub = "<ol>" + "".join(f'<li><a class="section" href="#{escape(i)}">{t}</a></li>'
                                   for i, t in c.sections) + "</ol>"
        state = " current" if here else ""
        label = f'<span class="num">{c.spec.id}</span> {escape(c.short)}'
        link = (f'<a href="{c.page}">{label}</a>' if c.nb is not None
                else f'<span class="not-run">{label}</span>')
        items.append(f'<li class="chapter{state}">{link}{sub}</li>')
    items.append(f'<li class="{"current" if current == "references.html" else ""}">'
                 '<a href="references.html">References</a></li>')
    return "<ol>" + "\n".join(items) + "</ol>"


def _page(title: str, run: dict, chapters: list[BookChapter], current: str, main: str,
          pager: str = "") -> str:
    toc = _toc(chapters, current)
    meta = " · ".join(escape(str(x)) for x in (
        run.get("date", ""), f"commit {run.get('commit', '?')}", f"seed {run.get('seed', '?')}",
        run.get("mode", ""), f"device {run.get('device', '?')}") if x)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<link rel="stylesheet" href="book.css">
</head>
<body>
<header class="book-header"><a class="book-title" href="index.html">{escape(TITLE)}</a>
<span class="run">{meta}</span></header>
<div class="book">
<nav class="toc-side" aria-label="Contents">{toc}</nav>
<main>
<details class="toc-top"><summary>Contents</summary><nav aria-label="Contents">{toc}</nav>
</details>
{main}
{pager}
</main>
</div>
{_SCROLL_SPY if current not in ("index.html", "references.html") else ""}
</body>
</html>
"""


def _pager(chapters: list[BookChapter], i: int) -> str:
    ran = [c for c in chapters if c.nb is not None]
    j = ran.index(chapters[i])
    prev = (f'<a rel="prev" href="{ran[j - 1].page}">← {ran[j - 1].spec.id} '
            f"{escape(ran[j - 1].short)}</a>" if j > 0 else '<a rel="prev" href="index.html">'
            "← Contents</a>")
    nxt = (f'<a rel="next" href="{ran[j + 1].page}">{ran[j + 1].spec.id} '
           f"{escape(ran[j + 1].short)} →</a>" if j + 1 < len(ran) else
           '<a rel="next" href="references.html">References →</a>')
    return f'<nav class="pager">{prev}{nxt}</nav>'


def _front(chapters: list[BookChapter], run: dict) -> str:
    rows = []
    for c in chapters:
        if c.nb is None:
            status = f"not run{': ' + escape(c.error.splitlines()[0]) if c.error else ''}"
        elif c.error:
            status = f"<strong>stopped</strong>: {escape(c.error.splitlines()[-1][:200])}"
        elif c.total:
            status = f"{c.passed} of {c.total} checks passed"
        else:
            status = "no checks of its own"
        link = (f'<a href="{c.page}">{escape(c.spec.title)}</a>' if c.nb is not None
                else escape(c.spec.title))
        rows.append(f"<tr><td>{c.spec.id}</td><td>{link}</td><td>{status}</td>"
                    f"<td>{'reused' if c.reused else f'{c.seconds:,.0f} s'}</td></tr>")
    passed, total = sum(c.passed for c in chapters), sum(c.total for c in chapters)
    return (f"<h1>{escape(TITLE)}</h1>"
            "<p>The Evidence Lower Bound built from first principles, every step checked with "
            "numbers. Each chapter is a notebook that ran for this book; each check holds a "
            "number against an independent answer and says what kind of check it is. The last "
            "appendix lists every check against the handout's own items.</p>"
            f"<p><strong>{passed} of {total} checks passed</strong> in this run "
            f"({escape(run.get('mode', ''))}, seed {escape(str(run.get('seed', '')))}, "
            f"device {escape(str(run.get('device', '')))}, commit "
            f"{escape(str(run.get('commit', '')))}, {escape(str(run.get('date', '')))}).</p>"
            '<div class="table-scroll"><table class="contents"><thead><tr><th></th>'
            "<th>chapter</th><th>checks</th><th>time</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></div>"
            "<p>Code is folded under each cell's <em>code</em>; a click opens it. Figures "
            "open at full resolution when clicked. Citations link to the "
            '<a href="references.html">references</a>.</p>')


def write_book(out_dir: str | Path, chapters: list[BookChapter], run: dict) -> Path:
    """Write the book of ``chapters`` (executed notebooks, in book order) into
    ``out_dir/book/`` and ``out_dir/report.html`` (its front page); ``run`` holds the header's
    ``date``, ``commit``, ``seed``, ``mode`` and ``device``. Returns ``report.html``'s path."""
    out_dir = Path(out_dir)
    book = out_dir / BOOK_DIR
    book.mkdir(parents=True, exist_ok=True)
    figures = figure_index([(c.page, c.nb) for c in chapters if c.nb is not None])
    cited_by: dict[str, list[tuple[str, str]]] = {}
    for c in chapters:
        if c.nb is None:
            continue
        cited: list[str] = []
        c.body = render_body(clean_notebook(c.nb, c.page, figures, cited))
        c.sections = sections(c.body)
        for key in dict.fromkeys(cited):
            cited_by.setdefault(key, []).append((f"chapter {c.spec.id}", c.page))
    for i, c in enumerate(chapters):
        if c.nb is not None:
            atomic_write_text(book / c.page, _page(f"{c.spec.id} · {c.short} — {TITLE}", run,
                                                   chapters, c.page, c.body, _pager(chapters, i)))
    atomic_write_text(book / "references.html", _page(
        f"References — {TITLE}", run, chapters, "references.html",
        "<h1>References</h1><p>Every work the chapters cite, with the address where it can "
        "be read; each entry names the chapters that cite it.</p>" + references_html(cited_by)))
    atomic_write_text(book / "index.html", _page(TITLE, run, chapters, "index.html",
                                                 _front(chapters, run)))
    from pygments.formatters import HtmlFormatter

    atomic_write_text(book / "book.css", (STATIC / "book.css").read_text() + "\n/* code */\n"
                      + HtmlFormatter(style="default").get_style_defs(".highlight"))
    (book / "fonts").mkdir(exist_ok=True)
    for name in ("STIX2Math.woff2", "STIX2Math-OFL.txt"):
        shutil.copyfile(STATIC / name, book / "fonts" / name)
    # report.html is the front page itself, its links resolved inside book/ (a redirect would
    # leave a headless browser's screenshot of it waiting forever)
    report = out_dir / "report.html"
    front = (book / "index.html").read_text()
    atomic_write_text(report, front.replace("<head>\n", f'<head>\n<base href="{BOOK_DIR}/">\n',
                                            1))
    return report


__all__ = ["BOOK_DIR", "HIDDEN_TAGS", "STATIC", "TEMPLATES", "TITLE", "BookChapter",
           "FigureRef", "clean_notebook", "figure_index", "fix_namespaces",
           "link_figure_refs",
           "markdown_math_to_mathml", "polish_mathml", "render_body", "render_figure_refs",
           "sections", "write_book"]
