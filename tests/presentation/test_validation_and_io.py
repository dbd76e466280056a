import json
import os

import pytest

from elbolab.io import atomic_write_json, atomic_write_text
from elbolab.presentation.validation import ValidationLog, format_table


def test_validation_log_records_and_saves(tmp_path):
    log = ValidationLog()
    log.at_most("error", "kl", 0.1, 0.2, kind="oracle")
    log.at_least("p-value", "elbo", 0.001, 0.01, kind="statistical")
    log.close("value", "jensen", 1.05, 1.0, rtol=0.1, kind="identity")
    log.z_within("z", "kl", -4.5)
    assert [r.passed for r in log.records] == [True, False, True, False]
    assert [r.kind for r in log.records] == ["oracle", "statistical", "identity", "statistical"]
    assert [r.comparator for r in log.records] == ["<=", ">=", "<=", "<="]
    assert not log.all_passed
    path = tmp_path / "m.json"
    log.save(path, quick=True)
    data = json.loads(path.read_text())
    assert data["quick"] is True
    assert set(data["validations"][0]) >= {"name", "part", "value", "tolerance", "passed",
                                           "kind", "comparator"}
    table = format_table(data["validations"])
    assert "FAIL" in table and "2/4 validations passed" in table
    assert "1 identity, 1 oracle, 2 statistical, 0 demonstration" in table
    assert "≤" in table and "≥" in table


def test_validation_nan_never_passes_and_part_is_checked():
    log = ValidationLog()
    assert not log.at_most("nan", "kl", float("nan"), 1.0, kind="oracle").passed
    with pytest.raises(ValueError, match="part must be one of"):
        log.at_most("x", "chapter-9", 0.0, 1.0, kind="oracle")
    with pytest.raises(ValueError, match="kind must be one of"):
        log.at_most("x", "kl", 0.0, 1.0, kind="proof")
    with pytest.raises(TypeError):  # the kind is never implicit
        log.at_most("x", "kl", 0.0, 1.0)


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
