"""The README's Python blocks run as written, and the names it mentions exist."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_python_block_of_the_readme_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "the README has no Python block"
    monkeypatch.chdir(tmp_path)  # whatever a block writes lands here
    for i, code in enumerate(blocks):
        exec(compile(code, f"README.md block {i + 1}", "exec"), {"__name__": "__readme__"})


def test_names_in_the_readme_module_table_exist():
    import importlib

    import elbolab

    text = README.read_text()
    first_cells = re.findall(r"^\| ((?:`[a-z_.]+`(?:, )?)+) \|", text, re.M)
    modules = [m for cell in first_cells for m in re.findall(r"`([a-z_.]+)`", cell)]
    assert len(modules) >= 20, modules  # the table was found
    for module in modules:
        importlib.import_module(f"elbolab.{module}")
    for name in ("set_default_validate", "validation", "gaussian_kl", "load_dataset",
                 "TwoForcesAnalysis", "IntractableLikelihoodDemo"):
        assert hasattr(elbolab, name), name
