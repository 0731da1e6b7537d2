"""``python -m scripts``: help, refusals in one line, validated inputs, any config override."""

from __future__ import annotations

import json

import pytest
from conftest import run_bundle_cli


def _main(capsys, *argv):
    """``python -m scripts`` in this process: its exit code, standard output and error."""
    from scripts.cli import main

    with pytest.raises(SystemExit) as ended:
        main(list(argv))
    out = capsys.readouterr()
    return ended.value.code, out.out, out.err


@pytest.mark.parametrize("command", ["phantoms", "study", "report", "demo"])
def test_every_command_shows_its_help_and_runs_nothing(command, tmp_path, capsys):
    code, out, _ = _main(capsys, command, "--help", "--output_dir", str(tmp_path / "never"))
    assert code == 0 and "usage: python -m scripts" in out and "--output_dir" in out
    assert not (tmp_path / "never").exists()


def test_unknown_options_and_bad_values_are_refused_in_one_line(tmp_path, capsys):
    code, _, err = _main(capsys, "study", "--dataset_dir", str(tmp_path), "--no_such_id", "3")
    assert code == 2 and "unknown option(s) --no_such_id: not an id of the configs" in err.strip().splitlines()[-1]
    code, _, err = _main(capsys, "study", "--folds", "[a]")
    assert code == 2 and "expected fold numbers" in err
    code, _, err = _main(capsys, "phantoms", "--output_dir", str(tmp_path), "--strange", "1")
    assert code == 2 and "unrecognized arguments: --strange 1" in err
    impossible = run_bundle_cli("scripts", "phantoms", "--output_dir", str(tmp_path / "c"), "--image_format", "png")
    assert impossible.returncode == 2 and "image_format must be one of" in impossible.stderr
    assert "Traceback" not in impossible.stderr


def test_a_missing_or_broken_datalist_is_one_line_naming_the_file(tmp_path):
    missing = run_bundle_cli("scripts", "study", "--dataset_dir", str(tmp_path), "--output_dir", str(tmp_path / "s"))
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert missing.stderr.strip().splitlines()[-1] == f"error: {tmp_path / 'datalist.json'}: datalist not found"
    (tmp_path / "datalist.json").write_text("{not json")
    broken = run_bundle_cli("scripts", "report", "--dataset_dir", str(tmp_path), "--output_dir", str(tmp_path / "s"))
    assert (
        broken.returncode == 1 and "datalist.json: not valid JSON" in broken.stderr and "Traceback" not in broken.stderr
    )
    (tmp_path / "datalist.json").write_text(
        json.dumps({"subjects": [], "folds": [{"train": [], "val": [], "test": []}]})
    )
    wrong_fold = run_bundle_cli("scripts", "study", "--dataset_dir", str(tmp_path), "--folds", "[3]")
    assert wrong_fold.returncode == 1 and "fold(s) [3] do not exist (folds 0..0)" in wrong_fold.stderr


@pytest.mark.parametrize(
    "choice, measured, expected",
    [("auto", True, True), ("auto", False, False), ("false", True, False), ("true", False, True)],
)
def test_the_demo_runs_in_bfloat16_as_asked_or_where_it_pays(monkeypatch, tmp_path, capsys, choice, measured, expected):
    """``demo --bf16 auto`` asks ``precision.bf16_pays``; true and false are taken as given; every fold gets it."""
    from scripts import cli, precision
    from scripts.study import runner
    from scripts.synthetic import cohort

    studies = []
    monkeypatch.setattr(cli, "_setup", lambda: None)  # the process's logging and hooks stay pytest's
    monkeypatch.setattr(precision, "bf16_pays", lambda device="cpu": measured)
    monkeypatch.setattr(cohort, "ensure_demo_cohort", lambda folder: None)
    monkeypatch.setattr(runner, "run_study", lambda *args, **kwargs: studies.append(kwargs) or tmp_path / "report.html")
    assert cli.run(["demo", "--output_dir", str(tmp_path), "--bf16", choice]) == str(tmp_path / "report.html")
    assert studies == [{"parallel": 1, "overrides": {"bf16": expected}}]
    code, _, err = _main(capsys, "demo", "--bf16", "maybe")
    assert code == 2 and "invalid choice: 'maybe'" in err
