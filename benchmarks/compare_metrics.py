"""Two labs' validations, record by record: which records appeared or went, which are
identical, and how far each value that differs moved.

    python benchmarks/compare_metrics.py BEFORE/metrics.json AFTER/metrics.json

Used to show that a refactoring left the lab's behaviour unchanged, or to explain each
difference (benchmarks/results/model_interface_cpu.md).
"""

from __future__ import annotations

import json
import sys


def compare(before: dict, after: dict) -> list[str]:
    va = {v["name"]: v for v in before["validations"]}
    vb = {v["name"]: v for v in after["validations"]}
    out = [f"only before: {sorted(set(va) - set(vb))}", f"only after: {sorted(set(vb) - set(va))}"]
    rows, same = [], 0
    for name, x in va.items():
        if name not in vb:
            continue
        y = vb[name]
        other = [k for k in x if k != "value" and x.get(k) != y.get(k)]
        if x["value"] == y["value"] and not other:
            same += 1
            continue
        rel = abs(x["value"] - y["value"]) / max(abs(x["value"]), 1e-300)
        rows.append((rel, name, x["value"], y["value"], other, x.get("chapter", "")))
    out.append(f"identical {same}, different {len(rows)}")
    for rel, name, xv, yv, other, ch in sorted(rows, reverse=True):
        out.append(f"{ch:>3} {rel:9.2e} {xv:.6g} -> {yv:.6g} {other or ''} :: {name}")
    n_pass = sum(bool(v["passed"]) for v in after["validations"])
    out.append(f"passed after: {n_pass} / {len(after['validations'])}")
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    with open(sys.argv[1]) as a, open(sys.argv[2]) as b:
        print("\n".join(compare(json.load(a), json.load(b))))
