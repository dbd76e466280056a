"""How much of the probability core is argument checking, and its longest functions.

    python benchmarks/check_share.py [--rev REV]

Counts, in the core modules (checks excluded: it is all checks), the code lines (no blank
lines, comments or docstrings) and, of those, the lines of argument checks: a call of a
``check_*`` function, ``finite_range`` or ``should_validate``, a ``raise``, and an ``if``
whose body does nothing else. Prints the share and the ten longest functions in code lines.
With ``--rev`` it reads the core as it was at that git revision.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ("densities", "estimators", "kl", "posterior", "elbo", "mixture", "variational", "ais",
        "flows", "gradients", "settings")


def _source(module: str, rev: str | None) -> str | None:
    path = f"src/elbolab/{module}.py"
    if rev is None:
        file = ROOT / path
        return file.read_text() if file.exists() else None
    proc = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{path}"],
                          capture_output=True, text=True)
    return proc.stdout if proc.returncode == 0 else None


def _is_check(node: ast.AST) -> bool:
    if isinstance(node, ast.Raise):
        return True
    if isinstance(node, ast.Expr | ast.Assign | ast.AnnAssign | ast.Return):
        call = node.value
        if isinstance(call, ast.Call):
            f = call.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) \
                else ""
            return name.startswith("check_") or name in ("finite_range", "should_validate")
    if isinstance(node, ast.If):
        return all(_is_check(n) for n in node.body + node.orelse)
    return False


def _code_lines(node: ast.AST, source_lines: list[str]) -> set[int]:
    lines = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.stmt):
            if isinstance(sub, ast.Expr) and isinstance(sub.value, ast.Constant) and isinstance(
                    sub.value.value, str):
                continue  # a docstring
            lines.update(range(sub.lineno, (sub.end_lineno or sub.lineno) + 1))
    return {i for i in lines if source_lines[i - 1].strip()
            and not source_lines[i - 1].strip().startswith("#")}


def measure(rev: str | None) -> tuple[int, int, list[tuple[int, str]]]:
    code, checks, functions = 0, 0, []
    for module in CORE:
        source = _source(module, rev)
        if source is None:
            continue
        tree = ast.parse(source)
        lines = source.splitlines()
        code_lines = _code_lines(tree, lines)
        check_lines: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.stmt) and _is_check(node):
                check_lines |= _code_lines(node, lines)
            if isinstance(node, ast.FunctionDef):
                functions.append((len(_code_lines(node, lines)), f"{module}.{node.name}"))
        code += len(code_lines)
        checks += len(check_lines & code_lines)
    functions.sort(reverse=True)
    return code, checks, functions[:10]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default=None, help="a git revision (default: the work tree)")
    args = parser.parse_args()
    code, checks, longest = measure(args.rev)
    print(f"core code lines {code}, argument-check lines {checks} ({checks / code:.1%})")
    print("longest functions (code lines):")
    for n, name in longest:
        print(f"  {n:4d}  {name}")


if __name__ == "__main__":
    main()
