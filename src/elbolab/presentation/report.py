"""``report.html``: the executed lab notebook as one self-contained page.

Nothing in it comes from the network: the mathematics of the Markdown cells is converted to
MathML at export time (``latex2mathml``; every current browser renders MathML), figures are the
PNGs embedded in the cells' outputs, and the page loads no script (the template
``templates/elbolab_report`` drops the JupyterLab page's require.js, MathJax and mermaid
scripts). Code inputs are folded under a "code" summary that a click opens; each chapter's
cells of parameters (its defaults, and the values ``elbolab lab`` injected, with paths of the
machine it ran on) are left out.
"""

from __future__ import annotations

import copy
import re
from html import escape
from pathlib import Path

import nbformat

from ..io import atomic_write_text

TEMPLATES = Path(__file__).with_name("templates")
TITLE = "Lab 3 — The Evidence Lower Bound, executable"

# $$display$$ or $inline$ (an inline one may wrap onto the next line, never across a blank
# line); code spans and fences are left alone
_MATH = re.compile(r"\$\$(.+?)\$\$|\$((?:[^$\n]|\n(?!\s*\n))+?)\$", re.S)
_CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)


def _to_mathml(match: re.Match) -> str:
    from latex2mathml.converter import convert

    display = match.group(1) is not None
    tex = (match.group(1) if display else match.group(2)).strip()
    # latex2mathml lays out align* as a table but reads aligned's & and \\ as text
    tex = tex.replace("{aligned}", "{align*}")
    try:
        return convert(tex, display="block" if display else "inline")
    except Exception:  # noqa: BLE001 - an unsupported command: show the TeX, never lose text
        return f"<code>{escape(tex)}</code>"


def markdown_math_to_mathml(text: str) -> str:
    """``text`` (Markdown) with every ``$…$`` and ``$$…$$`` outside code replaced by MathML
    (``<math>`` elements; display math with ``display="block"``). TeX that the converter
    cannot read is kept, as code, rather than dropped."""
    parts = _CODE.split(text)
    for i in range(0, len(parts), 2):  # the even parts lie outside code
        parts[i] = _MATH.sub(_to_mathml, parts[i])
    return "".join(parts)


def report_html(nb: nbformat.NotebookNode) -> str:
    """The report page of an executed notebook (the notebook itself is not changed)."""
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    nb = copy.deepcopy(nb)
    nb.metadata["title"] = TITLE
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = markdown_math_to_mathml(cell.source)
    exporter = HTMLExporter(template_name="elbolab_report",
                            extra_template_basedirs=[str(TEMPLATES)])
    exporter.register_preprocessor(
        TagRemovePreprocessor(remove_cell_tags={"parameters", "injected-parameters"}),
        enabled=True)
    body, _ = exporter.from_notebook_node(nb)
    return body


def write_report(nb: nbformat.NotebookNode, path: str | Path) -> None:
    """Write :func:`report_html` of ``nb`` to ``path`` atomically."""
    atomic_write_text(path, report_html(nb))


__all__ = ["TEMPLATES", "TITLE", "markdown_math_to_mathml", "report_html", "write_report"]
