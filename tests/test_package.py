"""The package's shape: the lab's API at the top, ``__all__`` everywhere, a light import, no
import that runs upward, one result type for every Monte Carlo answer, and a notebook that
reads like the lab."""

import ast
import dataclasses
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import elbolab
from elbolab.estimators import MonteCarloEstimate

SRC = Path(elbolab.__file__).parent
# the layers, lowest first: a module may import only from its own layer or lower ones
LAYERS = {"core": 0, "parts": 1, "vae": 1, "diffusion": 1, "presentation": 2}
# the two wings that stand side by side must not import each other, except where the
# dependency is the point: Part 5 (parts.two_forces, and its grids, parts.grid) drives the VAE
# machinery
ALLOWED_SIDEWAYS = {("parts.two_forces", "vae"), ("parts.grid", "vae")}


def _modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages([str(SRC)], "elbolab."))


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "core"


def test_the_lab_api_is_at_the_top():
    from elbolab import (  # noqa: F401
        ELBOFramework,
        GaussianTestBed,
        IntractableLikelihoodDemo,
        JensenInequalityDemo,
        KLDivergenceBuilder,
        MonteCarloEstimate,
        TwoForcesAnalysis,
    )

    for name in elbolab.__all__:
        assert hasattr(elbolab, name), name


@pytest.mark.parametrize("module", _modules())
def test_every_module_declares_all_and_it_is_true(module):
    mod = importlib.import_module(module)
    if module == "elbolab.presentation":  # imports nothing, so that the CLI starts light
        return
    assert hasattr(mod, "__all__"), f"{module} has no __all__"
    missing = [n for n in mod.__all__ if not hasattr(mod, n)]
    assert not missing, f"{module}.__all__ names what it lacks: {missing}"


def test_the_console_script_resolves():
    from importlib.metadata import entry_points

    (script,) = entry_points(group="console_scripts", name="elbolab")
    assert script.load() is importlib.import_module("elbolab.presentation.cli").main


def test_package_docstring_maps_every_subpackage():
    doc = elbolab.__doc__
    for sub in ("parts", "vae", "diffusion", "presentation"):
        assert f"elbolab.{sub}" in doc
    for core in ("checks", "densities", "estimators", "kl", "elbo", "mixture", "variational"):
        assert f"elbolab.{core}" in doc


def test_import_elbolab_and_its_command_line_stay_light():
    """A command pays for what it uses: importing the library or building the command line
    (what every `elbolab …` does before its work) loads no plotting, no notebook machinery,
    no scipy (~0.3 s) and no torch._dynamo (~2 s)."""
    heavy = ("matplotlib", "jupytext", "nbformat", "nbclient", "nbconvert", "ipykernel",
             "IPython", "jupyter_client", "scipy", "torch._dynamo")
    code = ("import sys, elbolab, elbolab.presentation.cli as cli; cli._build_parser(); "
            "print(','.join(m for m in sys.modules "
            f"if m in {heavy!r} or m.split('.')[0] in {heavy!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "", f"the command line pulled in: {out.stdout.strip()}"


def _imports_of(path: Path, module: str) -> set[str]:
    """The elbolab modules a source file imports (relative imports resolved)."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("elbolab"):
                found.add(target)
                found.update(f"{target}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("elbolab"))
    return {m for m in found if _is_module(m)}


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ModuleNotFoundError, ValueError):
        return False


@pytest.mark.parametrize("module", [m for m in _modules() if m.count(".") >= 1])
def test_no_import_runs_upward_or_sideways(module):
    spec = importlib.util.find_spec(module)
    path = Path(spec.origin)
    if path.suffix != ".py" or "notebooks" in path.parts:
        return
    mine = LAYERS[_layer(module)]
    for target in _imports_of(path, module):
        theirs = LAYERS[_layer(target)]
        assert theirs <= mine, f"{module} imports {target} from a higher layer"
        if theirs == mine and _layer(target) != _layer(module) and mine == 1:
            allowed = any(module.endswith(a) and _layer(target) == b
                          for a, b in ALLOWED_SIDEWAYS)
            assert allowed, f"{module} imports the sibling wing {target}"


#: The probability core, one straight stack, lowest first (docs/architecture.md): a core
#: module imports only core modules below it
CORE_ORDER = ("io", "checks", "settings", "densities", "estimators", "kl", "posterior", "elbo",
              "mixture", "variational", "flows", "gradients", "ais")


def _module_graph() -> dict[str, set[str]]:
    graph = {}
    for module in _modules():
        path = Path(importlib.util.find_spec(module).origin)
        if path.suffix == ".py" and "notebooks" not in path.parts:
            # a package's own name is its __init__: an import of "elbolab.x.y" names the
            # modules it reaches, not the packages above them
            graph[module] = {t for t in _imports_of(path, module) if t != module
                             and not module.startswith(t + ".")}
    return graph


def test_the_core_is_one_stack_in_its_documented_order():
    assert {m.split(".")[1] for m in _modules() if m.count(".") == 1
            and _layer(m) == "core"} == set(CORE_ORDER), "a core module missing from the order"
    graph = _module_graph()
    for i, name in enumerate(CORE_ORDER):
        below = {f"elbolab.{m}" for m in CORE_ORDER[:i]}
        imported = {t for t in graph[f"elbolab.{name}"] if _layer(t) == "core"
                    and t != "elbolab"}
        assert imported <= below, f"elbolab.{name} imports {sorted(imported - below)}, " \
                                  "which the documented order puts above it"


def test_no_import_cycle_anywhere():
    """No module reaches itself through its imports (top-level or inside functions)."""
    graph = _module_graph()
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for module in graph:
        if module not in state:
            visit(module, [module])


def test_every_monte_carlo_answer_is_one_type(gen):
    from elbolab import IntractableLikelihoodDemo, KLDivergenceBuilder, monte_carlo_mean

    demo = IntractableLikelihoodDemo(2, 5, "linear", 1.0, seed=0)
    x = demo.sample_data(3, gen)
    post = demo.exact_posterior(x)
    answers = {
        "monte_carlo_mean": monte_carlo_mean(torch.randn(10, generator=gen)),
        "monte_carlo_kl": KLDivergenceBuilder().monte_carlo_kl(
            torch.randn(50, generator=gen), lambda s: -0.5 * s**2, lambda s: -0.5 * s**2 - 1),
        "naive MC": demo.approximate_marginal_likelihood(x, 100, generator=gen),
        "importance sampling": demo.importance_sampling(x, post, 100, generator=gen),
        "IWAE-k": demo.iwae(x, post, 4, 10, generator=gen),
    }
    for name, answer in answers.items():
        assert isinstance(answer, MonteCarloEstimate), name
        assert {f.name for f in dataclasses.fields(answer)} == {"estimate", "stderr", "n", "ess"}
    assert answers["importance sampling"].ess is not None
    assert answers["monte_carlo_mean"].ess is None


def test_handout_names_are_documented_aliases():
    from elbolab import ELBOFramework, IntractableLikelihoodDemo

    assert ELBOFramework.reconstruction_loss is ELBOFramework.reconstruction_log_likelihood
    assert (IntractableLikelihoodDemo.likelihood_given_z
            is IntractableLikelihoodDemo.log_likelihood_given_z)


def test_the_chapters_read_like_the_lab():
    """Each chapter is a notebook a student can read: one import cell, no code cell over 40
    lines, an opening that says what the reader will be able to do and, but for the checklist,
    a closing "Try it"."""
    import jupytext

    from elbolab.presentation.chapters import CHAPTERS

    for spec in CHAPTERS:
        nb = jupytext.read(spec.source)
        code = [c.source for c in nb.cells if c.cell_type == "code"]
        importing = [i for i, c in enumerate(code)
                     if any(line.startswith(("import ", "from ")) for line in c.splitlines())]
        assert len(importing) == 1, f"{spec.id}: imports in code cells {importing}"
        too_long = [(i, len(c.splitlines())) for i, c in enumerate(code)
                    if i != importing[0] and len(c.splitlines()) > 40]
        assert not too_long, f"{spec.id}: code cells over 40 lines: {too_long}"
        markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
        assert markdown[0].startswith("# ") and "will be able to" in " ".join(markdown[0].split())
        assert spec.id == "A5" or any(m.startswith("## Try it") for m in markdown), spec.id


def test_one_version_number():
    """pyproject.toml reads its version from elbolab.__version__: the installed metadata and
    the package say the same."""
    from importlib.metadata import version

    assert version("elbolab") == elbolab.__version__
    import re

    pyproject = (SRC.parent.parent / "pyproject.toml").read_text()
    assert not re.search(r'^version = "', pyproject, re.M)  # no second number to drift


def test_no_private_model_method_is_called_from_outside():
    """Consumers use the model interface (posterior, log_likelihood, prior), never a private
    method of a model, in the library, its chapters, the tests or the benchmarks."""
    root = SRC.parent.parent
    private = ("._encode(", "._log_likelihood(", "._posterior_sampler(", "._reconstruction(")
    offenders = [f"{path.relative_to(root)}: {p}"
                 for folder in ("src", "tests", "benchmarks")
                 for path in (root / folder).rglob("*.py")
                 if path.name != "test_package.py" and path.name != "mutation.py"
                 for p in private if p in path.read_text()
                 and not (path.name == "elbo.py" and p == "._reconstruction(")]
    assert offenders == []
