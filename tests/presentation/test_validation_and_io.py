import json
import os
from pathlib import Path

import pytest

from elbolab.io import atomic_write_json, atomic_write_text
from elbolab.presentation.validation import ValidationLog, format_html, format_table


def test_validation_log_records_and_saves(tmp_path):
    log = ValidationLog()
    log.at_most("error", "kl", 0.1, 0.2, kind="oracle", against="scipy", unit="nats")
    log.at_least("p-value", "elbo", 0.001, 0.01, kind="statistical", against="1% level",
                 unit="p-value")
    log.close("value", "jensen", 1.05, 1.0, rtol=0.1, kind="identity", against="1", unit="")
    log.z_within("z", "kl", -4.5, against="exact KL")
    log.between("order", "diffusion", 3e-5, 0.5e-5, 2e-5, kind="oracle", against="Ho et al.",
                unit="bits/dim")
    assert [r.passed for r in log.records] == [True, False, True, False, False]
    assert [r.kind for r in log.records] == ["oracle", "statistical", "identity", "statistical",
                                             "oracle"]
    assert [r.comparator for r in log.records] == ["<=", ">=", "=", "|z|<=", "in"]
    # a z-score keeps its sign and its unit; '=' keeps the value and its target
    assert (log.records[3].value, log.records[3].unit) == (-4.5, "SE")
    assert (log.records[2].value, log.records[2].reference) == (1.05, 1.0)
    assert log.records[2].tolerance == pytest.approx(0.1)
    assert not log.all_passed
    path = tmp_path / "m.json"
    log.save(path, quick=True)
    data = json.loads(path.read_text())
    assert data["quick"] is True
    assert set(data["validations"][0]) >= {"name", "part", "value", "tolerance", "passed",
                                           "kind", "comparator", "against", "unit", "reference"}
    table = format_table(data["validations"])
    assert "FAIL" in table and "2/5 validations passed" in table
    assert "1 identity, 2 oracle, 2 statistical, 0 demonstration" in table
    for shown in ("≤", "≥", "|z| ≤", "1 ± 0.1", "[5e-06, 2e-05]", "0.1 nats", "-4.5 SE"):
        assert shown in table, shown
    html = format_html(data["validations"])
    assert "what it is compared against</th>" in html and "against exact KL · statistical" in html
    assert '<td class="num" data-label="value">3e-05 bits/dim</td>' in html


def test_every_record_says_what_it_is_compared_against():
    log = ValidationLog()
    with pytest.raises(TypeError):  # against and unit are never implicit
        log.at_most("x", "kl", 0.0, 1.0, kind="oracle")
    with pytest.raises(TypeError):
        log.z_within("x", "kl", 0.0)
    with pytest.raises(ValueError, match="against must name"):
        log.at_most("x", "kl", 0.0, 1.0, kind="oracle", against="", unit="nats")
    with pytest.raises(ValueError, match="comparator must be one of"):
        log.record("x", "kl", 0.0, 1.0, True, kind="oracle", against="y", unit="",
                   comparator="<")


def test_validation_nan_never_passes_and_part_is_checked():
    log = ValidationLog()
    ok = {"against": "y", "unit": ""}
    assert not log.at_most("nan", "kl", float("nan"), 1.0, kind="oracle", **ok).passed
    assert not log.z_within("nan", "kl", float("nan"), against="y").passed
    with pytest.raises(ValueError, match="part must be one of"):
        log.at_most("x", "chapter-9", 0.0, 1.0, kind="oracle", **ok)
    with pytest.raises(ValueError, match="kind must be one of"):
        log.at_most("x", "kl", 0.0, 1.0, kind="proof", **ok)
    with pytest.raises(TypeError):  # the kind is never implicit
        log.at_most("x", "kl", 0.0, 1.0, **ok)


def test_atomic_write_keeps_old_file_when_writer_fails(tmp_path):
    path = tmp_path / "out.txt"
    atomic_write_text(path, "old")

    class Boom(Exception):
        pass

    from elbolab.io import atomic_write

    def writer(f):
        f.write("partial")
        raise Boom

    with pytest.raises(Boom):
        atomic_write(path, writer)
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]  # no temporary file left behind
    atomic_write_json(path, {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1}


def test_records_carry_their_section_and_checklist_items():
    from elbolab.presentation.checklist import SECTION_KEYS

    log = ValidationLog(items=SECTION_KEYS)
    log.at_most("before any section", "kl", 0.0, 1.0, kind="oracle", against="y", unit="")
    log.section("Part 2: the closed form", "p2.closed_form", "x.stability")
    rec = log.at_most("in it", "kl", 0.0, 1.0, kind="oracle", against="y", unit="")
    assert log.records[0].serves == () and log.records[0].section == ""
    assert rec.section == "Part 2: the closed form"
    assert rec.serves == ("p2.closed_form", "x.stability")
    assert log.to_dicts()[1]["serves"] == ("p2.closed_form", "x.stability")
    with pytest.raises(ValueError, match="unknown checklist item 'p9.nothing'"):
        log.section("Part 9", "p9.nothing")
    with pytest.raises(ValueError, match="title"):
        log.section("", "p2.closed_form")


def test_checklist_appendix_shows_missing_items_and_escapes_names():
    from elbolab.presentation.checklist import CHECKLIST, appendix_html, coverage

    log = ValidationLog()
    log.section("Part 2: <the> closed form", "p2.closed_form")
    log.at_most("KL <= 1e-9 & exact", "kl", 0.0, 1.0, kind="oracle", against="y", unit="")
    log.z_within("a z-score", "kl", 5.0, against="y")  # statistical and failing
    log.section("Part 2: by name")
    log.z_within("KLDivergenceBuilder.monte_carlo_kl within 4 SE of the closed form", "kl", 1.0,
                 against="y")
    rows = {r["item"].key: r for r in coverage(log.to_dicts())}
    assert set(rows) == {item.key for item in CHECKLIST}
    closed = rows["p2.closed_form"]
    assert closed["covered"] and closed["passed"] == 1 and len(closed["checks"]) == 2
    assert closed["kinds"]["oracle"] == 1 and closed["kinds"]["statistical"] == 1
    assert closed["sections"] == ["Part 2: <the> closed form"]
    # the statistical indicator is served by every statistical record, whatever it serves
    assert rows["x.statistical"]["covered"] and len(rows["x.statistical"]["checks"]) == 2
    assert not rows["p1.integral"]["covered"]
    # a handout item is shown by the validations it names, wherever they were made
    assert rows["valid.kl"]["checks"] == [
        "KLDivergenceBuilder.monte_carlo_kl within 4 SE of the closed form"]
    assert rows["valid.kl"]["unmatched"] == ["MC KL: spread of replicate estimates",
                                             "full-covariance MC KL within 4 SE"]
    assert rows["rigor.formulas"]["checks"] == ["KL <= 1e-9 & exact"]  # every oracle record
    html = appendix_html(log.to_dicts())
    n_missing = sum(not r["covered"] and not r["item"].no_check for r in rows.values())
    assert html.count("<strong>MISSING</strong>") == n_missing > 0
    assert html.count("no validation: ") == sum(bool(i.no_check) for i in CHECKLIST) == 2
    n_handout = sum(i.source == "handout" for i in CHECKLIST)
    n_shown = sum(r["covered"] for r in rows.values() if r["item"].source == "handout")
    assert f"{n_shown} of {n_handout} handout items" in html
    assert "KL ≤ 1e-9 &amp; exact" in html and "&lt;the&gt;" in html  # readable, escaped
    assert "(25 points)" in html


HANDOUT = Path(__file__).resolve().parents[3] / "shared" / "handout" / "lab3-handout.md"


@pytest.mark.skipif(not HANDOUT.exists(), reason=f"the handout is not at {HANDOUT}")
def test_the_checklist_quotes_every_handout_item_verbatim():
    """Every checkbox of the handout's Submission Requirements and Success Metrics, every row
    of its Evaluation Criteria and every Common Mathematical Pitfall is a checklist item, word
    for word, and every handout item of the checklist is in the handout."""
    import re

    from elbolab.presentation.checklist import CHECKLIST

    text = HANDOUT.read_text()
    pitfalls = text[text.index("## 🚨 Common Mathematical Pitfalls"):
                    text.index("## 🔍 Success Metrics")]
    expected = set(re.findall(r"^- \[ \] (.+?)\s*$", text, re.M))
    expected |= set(re.findall(r"^- (?!\[)(.+?)\s*$", pitfalls, re.M))
    rows = re.findall(r"^\| \*\*(.+?)\*\* \| (\d+) \| (.+?) \|$", text, re.M)
    expected |= {f"{name} — {criteria}" for name, _, criteria in rows}
    ours = {i.text for i in CHECKLIST if i.source == "handout"}
    assert ours == expected, (sorted(expected - ours), sorted(ours - expected))
    points = {f"{n} — {c}": int(p) for n, p, c in rows}
    assert all(i.points == points[i.text] for i in CHECKLIST if i.text in points)
    assert sum(points.values()) == 100
    # each is shown by named validations, or says why no number can show it
    assert all(bool(i.checks or i.kind) != bool(i.no_check)
               for i in CHECKLIST if i.source == "handout")


def test_validation_html_groups_by_chapter_and_kind_with_readable_names_and_margins():
    from elbolab.presentation.validation import format_html, margin_text, readable

    log = ValidationLog()
    log.at_most("a < b & c", "kl", 0.1, 0.2, kind="oracle", against="y", unit="")
    log.at_least("p-value", "intractable", 0.001, 0.01, kind="statistical",
                 against="1% level", unit="p-value")
    log.at_most("posterior q(x_{t-1}|x_t,x_0) vs sigma^2", "diffusion", 1e-15, 1e-9,
                kind="oracle", against="(sum w)^2 / sum w^2", unit="")
    records = log.to_dicts()
    for v, chapter in zip(records, ("2", "1", "7"), strict=True):
        v["chapter"] = chapter
    html = format_html(records, [("1", "Why p(x)", "01.html"), ("2", "KL", "02.html"),
                                 ("7", "Diffusion", "07.html")])
    assert "2 of 3 validations passed" in html and "a &lt; b &amp; c" in html
    # chapters in book order, each a group linking to its page; then one group per kind
    assert html.index('href="01.html"') < html.index('href="02.html"') < html.index("07.html")
    assert html.count('<details class="group"') == 3 + 2
    assert '<details class="group" open><summary><a href="01.html">' in html  # a failure opens
    # the text's notation, not ASCII TeX; a result that says how much room it had
    assert "q(xₜ₋₁|xₜ,x₀) vs σ²" in html and "(Σw)² / Σw²" in html
    assert readable("dz/dmu = 1, KL(q || p), a <= b") == "∂z/∂μ = 1, KL(q ‖ p), a ≤ b"
    assert "✓ 1e+06× under" in html and "✗ −0.009 over".replace("−", "-") in html
    assert margin_text({"comparator": "|z|<=", "value": -2.2, "tolerance": 4.0,
                        "passed": True}) == "✓ 1.8 SE spare"
    assert margin_text({"comparator": "=", "value": 1.05, "reference": 1.0, "tolerance": 0.1,
                        "passed": True}) == "✓ off 0.05"
