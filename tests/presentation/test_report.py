"""The report page: math as MathML with no network, no scripts, the injected cell left out."""

import nbformat

from elbolab.presentation.report import TITLE, markdown_math_to_mathml, report_html


def test_math_becomes_mathml_outside_code_only():
    text = ("Inline $q(z\\mid x)$ and one that wraps $a +\nb$; `code $x$ stays`;\n"
            "$$\\begin{aligned} a &= b \\\\ &= c \\end{aligned}$$\n\n"
            "```\n$not math$\n```\nA lone $ sign\n\nthen $y$.")
    out = markdown_math_to_mathml(text)
    assert out.count("<math") == 4
    assert "`code $x$ stays`" in out and "```\n$not math$\n```" in out
    assert '<math xmlns="http://www.w3.org/1998/Math/MathML" display="block">' in out
    assert "<mtable" in out and "<mi>&</mi>" not in out  # aligned laid out as a table
    # an inline formula never spans a blank line: the lone $ stays text
    assert "A lone $ sign" in out


def test_unreadable_tex_is_kept_as_code_not_dropped(monkeypatch):
    import latex2mathml.converter as conv

    def boom(tex, display="inline"):
        raise ValueError("unsupported")

    monkeypatch.setattr(conv, "convert", boom)
    assert markdown_math_to_mathml("see $\\weird{x}$") == "see <code>\\weird{x}</code>"


def test_report_page_loads_nothing_from_the_network():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title\n\n$$\\log p(x) \\ge \\mathrm{ELBO}$$"),
        nbformat.v4.new_code_cell("DATA_DIR = '/home/someone/data'",
                                  metadata={"tags": ["injected-parameters"]}),
        nbformat.v4.new_code_cell("1 + 1", outputs=[nbformat.v4.new_output(
            "execute_result", {"text/plain": "2"}, execution_count=1)]),
    ]
    html = report_html(nb)
    assert f"<title>{TITLE}</title>" in html
    assert "<script src" not in html and "cdnjs" not in html and "mathjax" not in html.lower()
    assert "/home/someone/data" not in html  # the machine's paths stay out
    assert "<math" in html and "<details" in html  # MathML; code folded
