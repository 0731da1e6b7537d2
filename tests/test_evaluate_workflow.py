"""evaluate.json layered on inference.json: a labelled fold scored with its model, group summaries and figures."""

from __future__ import annotations

import json
from collections import Counter

from conftest import TINY_TRAINING, cli_overrides, load_datalist, run_bundle_cli


def test_evaluation_of_a_fold_writes_scores_and_group_summaries(tiny_model, tiny_cohort, tmp_path):
    args = {
        "coarse_mm": TINY_TRAINING["coarse_mm"],
        "dataset_dir": str(tiny_cohort),
        "ckpt_dir": str(tiny_model / "models"),
        "output_dir": str(tmp_path),
        "save_overlays": "False",
    }
    result = run_bundle_cli(
        "monai.bundle",
        "run",
        "--config_file",
        "['configs/inference.json','configs/evaluate.json']",
        *cli_overrides(args),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "evaluation_fold0"
    document = json.loads((out / "scores.json").read_text())
    test_ids = load_datalist(tiny_cohort)["folds"][0]["test"]
    assert [s["id"] for s in document["subjects"]] == test_ids
    groups = document["groups"]
    group_of = {s["id"]: s["group"] for s in load_datalist(tiny_cohort)["subjects"]}
    assert groups["groups"] == dict(Counter(group_of[i] for i in test_ids))
    for key in (
        "auc_recon_score",
        "auc_latent_distance",
        "auc_normative_score",
        "auc_extra_fraction",
        "auc_combined",
        "auc_volume_baseline",
        "mean_dice_OS",
        "lda_fisher_score",
        "lda_p_value",
    ):
        assert key in groups, key
    assert 0.0 <= groups["auc_combined_ci_low"] <= groups["auc_combined"] <= groups["auc_combined_ci_high"] <= 1.0
    for figure in ("roc.png", "dice_per_group.png", "lda_codes.png"):
        assert (out / "figures" / figure).stat().st_size > 1000
    assert (out / f"{test_ids[0]}_recon.nii.gz").is_file()
