"""The book: math as MathML that browsers render, citations and figure references that resolve,
pages with contents, header and pager, nothing from the network, no machine paths."""

import re
from pathlib import Path

import nbformat
import pytest

from elbolab.presentation.bibliography import REFERENCES, reference, render_citations
from elbolab.presentation.chapters import CHAPTERS
from elbolab.presentation.report import (
    BookChapter,
    FigureRef,
    clean_notebook,
    fix_namespaces,
    markdown_math_to_mathml,
    polish_mathml,
    render_figure_refs,
    write_book,
)


def test_math_becomes_mathml_outside_code_only():
    text = ("Inline $q(z\\mid x)$ and one that wraps $a +\nb$; `code $x$ stays`;\n"
            "$$\\begin{aligned} a &= b \\\\ &= c \\end{aligned}$$\n\n"
            "```\n$not math$\n```\nA lone $ sign\n\nthen $y$.")
    out = markdown_math_to_mathml(text)
    assert out.count("<math") == 4
    assert "`code $x$ stays`" in out and "```\n$not math$\n```" in out
    assert '<math xmlns="http://www.w3.org/1998/Math/MathML" display="block">' in out
    assert '<span class="math-display">' in out  # display math scrolls on its own
    assert "<mtable" in out and "<mi>&</mi>" not in out  # aligned laid out as a table
    # an inline formula never spans a blank line: the lone $ stays text
    assert "A lone $ sign" in out


def test_unreadable_tex_is_kept_as_code_not_dropped(monkeypatch):
    import latex2mathml.converter as conv

    def boom(tex, display="inline"):
        raise ValueError("unsupported")

    monkeypatch.setattr(conv, "convert", boom)
    assert markdown_math_to_mathml("see $\\weird{x}$") == "see <code>\\weird{x}</code>"


def test_mathml_is_polished_for_mathml_core():
    out = markdown_math_to_mathml(r"$\mathbb E_q[\log p(x)] + \mathcal N(0, I) + \mathbf x$")
    # variants as Unicode letters (MathML Core ignores mathvariant), none left behind
    assert "<mi>𝔼</mi>" in out and "<mi>𝒩</mi>" in out and "<mi>𝐱</mi>" in out
    assert "mathvariant=" not in out
    # log is an operator: a thin space before its operand, none before a bracket
    assert '<mi>log</mi><mspace width="0.1667em"></mspace><mi>p</mi>' in out
    assert "<mspace" not in markdown_math_to_mathml(r"$\log(x)$")
    assert "<msub><mi>log</mi><mspace" not in markdown_math_to_mathml(r"$\log_2 x$")
    brace = markdown_math_to_mathml(r"$$\underbrace{a+b}_{L_0}$$")
    assert '<mo stretchy="true">&#x23DF;</mo>' in brace
    # a long inline formula gets a box that scrolls instead of widening a phone's page
    wide = markdown_math_to_mathml(
        r"$\mathrm{sd}(w)/(\bar w\sqrt n) = \sqrt{(n/\mathrm{ESS}-1)/(n-1)}$")
    assert wide.startswith('<span class="math-wide">')
    assert not markdown_math_to_mathml("$x$").startswith("<span")
    # letters without a variant keep their <mi>
    assert polish_mathml('<mi mathvariant="double-struck">R</mi>') == "<mi>ℝ</mi>"


def test_namespace_prefixes_are_removed():
    html = ('<h2 id="x"><ns0:math xmlns:ns0="http://www.w3.org/1998/Math/MathML">'
            "<ns0:mi>n</ns0:mi></ns0:math></h2>")
    fixed = fix_namespaces(html)
    assert "ns0" not in fixed
    assert '<math xmlns="http://www.w3.org/1998/Math/MathML"><mi>n</mi></math>' in fixed


def test_citations_link_to_the_reference_list():
    cited = []
    out = render_citations("as shown [@kingma2014, App. B; @rezende2014], and @ho2020 "
                           "report; mail x@ho2020.org; @fig:iwae_vs_k stays", cited=cited)
    assert ('(<a class="cite" href="references.html#ref-kingma2014">Kingma &amp; Welling '
            '2014</a>, App. B; <a class="cite" href="references.html#ref-rezende2014">Rezende, '
            'Mohamed &amp; Wierstra 2014</a>)') in out
    assert '<a class="cite" href="references.html#ref-ho2020">Ho et al. (2020)</a> report' in out
    assert "x@ho2020.org" in out and "@fig:iwae_vs_k" in out
    assert cited == ["kingma2014", "rezende2014", "ho2020"]
    with pytest.raises(KeyError, match="@nobody2020 is not in"):
        render_citations("see [@nobody2020]")


def test_every_citation_in_the_chapters_is_in_the_bibliography():
    keys = set()
    for spec in CHAPTERS:
        for cell in re.split(r"\n(?=# %%)", spec.source.read_text()):
            if cell.startswith("# %% [markdown]"):
                keys |= set(re.findall(r"(?<![\w@.])@([a-z]+[0-9]{4}[a-z]?)\b", cell))
    assert keys and keys <= set(REFERENCES), keys - set(REFERENCES)
    for key in keys:  # every entry a reader can follow
        ref = reference(key)
        assert ref.link.startswith("https://") and ref.identifier
        assert ref.arxiv is None or re.fullmatch(r"\d{4}\.\d{4,5}", ref.arxiv)
        assert ref.doi is None or ref.doi.startswith("10.")


def test_figure_references_name_the_figure_wherever_it_is():
    figures = {"a": FigureRef("Figure 4.2", "04_vae.html", "c"),
               "b": FigureRef("Figure 1.1", "01_intractable.html", "d")}
    out = render_figure_refs("see @fig:a and @fig:b, not @fig:zz", figures, "04_vae.html")
    assert '<a class="figref" href="#fig-a">Figure 4.2</a>' in out
    assert '<a class="figref" href="01_intractable.html#fig-b">Figure 1.1</a>' in out
    assert "a figure of a chapter not in this run" in out


def _figure_output(name, label, caption):
    return nbformat.v4.new_output("display_data", {"text/html": "<figure>…</figure>",
                                                   "text/plain": f"{label}. {caption}"},
                                  metadata={"elbolab": {"figure": name, "label": label,
                                                        "caption": caption, "width": 300,
                                                        "height": 200}})


def _chapter_nb(title, figure=None, text=""):
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("show(fig)", outputs=[
        nbformat.v4.new_output("stream", name="stderr", text="\n"),
        nbformat.v4.new_output("stream", name="stdout", text="measured 1.5 nats\n")])
    if figure:
        code.outputs.append(_figure_output(*figure))
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# {title}\n\n## First section\n\n{text}"),
        nbformat.v4.new_code_cell("DATA_DIR = '/home/someone/data'",
                                  metadata={"tags": ["injected-parameters"]}),
        code,
        nbformat.v4.new_markdown_cell("## Second $n^{-1/2}$ section"),
    ]
    return nb


def _tiny_book(tmp_path: Path) -> Path:
    a, b = CHAPTERS[0], CHAPTERS[1]
    chapters = [
        BookChapter(a, _chapter_nb("Chapter 1", ("fig_one", "Figure 1.1", "One curve."),
                                   "As @fig:fig_two shows [@burda2016]; $\\mathbb E[x]$."),
                    passed=2, total=2, seconds=3.0),
        BookChapter(b, _chapter_nb("Chapter 2", ("fig_two", "Figure 2.1", "Two curves."),
                                   "Unlike @fig:fig_one, see @ho2020."), passed=1, total=1),
    ]
    (tmp_path / "figures").mkdir()
    from PIL import Image

    for name in ("fig_one", "fig_two"):
        Image.new("RGB", (600, 400), "white").save(tmp_path / "figures" / f"{name}.png")
    write_book(tmp_path, chapters, {"date": "2026-12-06", "commit": "abc1234", "seed": 0,
                                    "mode": "quick", "device": "cpu"})
    return tmp_path / "book"


def test_the_book_has_contents_header_pager_and_nothing_from_the_network(tmp_path):
    book = _tiny_book(tmp_path)
    report = (tmp_path / "report.html").read_text()  # the front page, its links inside book/
    assert '<base href="book/">' in report and 'href="02_kl.html"' in report
    names = {p.name for p in book.glob("*.html")}
    assert names == {"index.html", "references.html", f"{CHAPTERS[0].slug}.html",
                     f"{CHAPTERS[1].slug}.html"}
    assert (book / "book.css").exists() and (book / "fonts" / "STIX2Math.woff2").exists()
    one = (book / f"{CHAPTERS[0].slug}.html").read_text()
    # the header says which run this is
    assert all(s in one for s in ("2026-12-06", "commit abc1234", "seed 0", "quick",
                                  "device cpu"))
    # the sidebar: every chapter, the current one with its sections
    assert 'class="chapter current"' in one and 'class="section" href="#First-section"' in one
    assert one.count('class="chapter') == 2 * 2  # two chapters, in the side and top contents
    assert '<a rel="next" href="02_kl.html">' in one and '<a rel="prev" href="index.html">' in one
    # a figure: the file linked, its caption as alt text, referenced from the other page
    img = re.search(r'<figure class="elbolab-figure" id="fig-fig_one">.*?<img ([^>]*)>', one)
    assert img and all(a in img[1] for a in ('src="../figures/fig_one.png"', 'width="300"',
                                             'height="200"', 'alt="Figure 1.1. One curve."'))
    assert '<a class="figref" href="02_kl.html#fig-fig_two">Figure 2.1</a>' in one
    assert 'href="references.html#ref-burda2016"' in one
    # nothing but the lab: no parameters cell, no blank stderr box, no path of this machine
    assert "/home/someone/data" not in one and "output_stderr" not in one
    assert "measured 1.5 nats" in one
    assert "ns0" not in one and "<script src" not in one and "http://" not in one.replace(
        "http://www.w3.org/1998/Math/MathML", "")
    refs = (book / "references.html").read_text()
    assert 'id="ref-burda2016"' in refs and 'id="ref-ho2020"' in refs
    assert "https://arxiv.org/abs/1509.00519" in refs and "Cited in" in refs
    index = (book / "index.html").read_text()
    assert "3 of 3 checks passed" in index


def test_clean_notebook_leaves_the_executed_notebook_alone():
    nb = _chapter_nb("Chapter 1", ("f", "Figure 1.1", "cap"))
    before = nbformat.writes(nb)
    clean = clean_notebook(nb, "x.html", {}, [])
    assert nbformat.writes(nb) == before
    assert len(clean.cells) == 3
    html = clean.cells[1].outputs[-1]["data"]["text/html"]
    assert 'src="../figures/f.png"' in html and 'alt="Figure 1.1. cap"' in html


def test_the_browser_probe_finds_what_a_reader_would_meet(tmp_path):
    """The checks of the real-browser test can fail: a clean book passes, and a page with a
    missing image, raw TeX, a namespaced element, an over-wide block and a console error is
    reported for each (skipped where no Chromium is installed)."""
    from elbolab.presentation.browser import book_problems, find_chromium, inspect_book

    if find_chromium() is None:
        pytest.skip("no Chromium installed (apt-get install chromium): the browser checks "
                    "need a real browser")
    book = _tiny_book(tmp_path)
    assert book_problems(inspect_book(book)) == []
    page = book / f"{CHAPTERS[1].slug}.html"
    html = page.read_text().replace("</main>", (
        '<img src="missing.png" alt="gone"><p>raw $x^2$ here <ns0:mi>n</ns0:mi></p>'
        '<div style="width:900px">wide</div><script>console.error("boom")</script></main>'))
    html = html.replace("Unlike", '<a class="cite" href="references.html#ref-x">x</a>')
    page.write_text(html.replace('href="01_intractable.html#fig-fig_one"', 'href="#nowhere"'))
    problems = "\n".join(book_problems(inspect_book(book, widths=(400,))))
    for expected in ("image did not load: missing.png", "raw $ in the text",
                     "wider than the page: div", "console: boom", "failed to load",
                     "the page scrolls sideways", "citation not in the bibliography",
                     "an ns0: namespace prefix in the DOM",
                     "figure never referenced from the text: 01_intractable.html#fig-fig_one",
                     "figure reference leads nowhere: 02_kl.html#nowhere"):
        assert expected in problems, (expected, problems)
