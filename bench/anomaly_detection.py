"""Anomaly detection on hard cohorts: does the shape model separate mild sarcopenic changes from healthy shapes?

For each cohort (below) and generator seed, the bundle's own cross-validation study is run with its defaults
(``python -m scripts study``: 5 folds, the sarcopenic subjects tested in every fold), then each fit variant rescores
the same trained folds (a copy of each fold's model is recalibrated on its validation subjects with the variant's fit
settings, ``configs/calibrate.json``, and scores the fold's test subjects). Every score of every variant is reported:
ROC AUC of sarcopenic against healthy subjects pooled over folds with a bootstrap 95% interval, its mean and spread
over folds, and the healthy and sarcopenic reconstruction Dice, beside volume alone, the voxel-PCA shape model and a
descriptor that knows the anomaly (the cross-section's flatness).

Seeds: the first of ``--seeds`` is the one methods and settings were chosen on (``tuning``); the others were never
used for choosing (``held_out``): their figures are the ones to quote. Results: ``bench/results/anomaly_detection.json``
and a table on standard output. One cohort and seed takes about 10 minutes on 2 CPU cores, and about 5 more per
variant. Studies already scored in ``--work_dir`` are reused, and variants scored there by earlier runs are reported
too, so that the seeds and variants can be run in pieces (``--variants ''`` runs none) and summarised together.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import BUNDLE, RESULTS, machine_facts, write_result

COHORTS = {
    "default": {"strength": 1.0},
    "mild": {"strength": 0.4},
    "mild_noisy": {"strength": 0.4, "contour_jitter": 0.04, "fov_cut": 0.1, "slice_thickness_mm": 2.0},
}
# Fit variants rescored on the trained folds ("bundle" is the study with the bundle's defaults).
VARIANTS = {
    "no_prior": {"fit_prior_weight": 0.0},
    "prior_1e-4": {"fit_prior_weight": 1e-4},
    "prior_3e-3": {"fit_prior_weight": 3e-3},
    "prior_1e-2": {"fit_prior_weight": 1e-2},
}
TARGETS = {"mild": 0.90, "mild_noisy": 0.85, "default": 0.97}
# Other ways of combining the calibrated scores, computed from the same per-subject z-scores (mean of z).
COMBINATIONS = {
    "extra+latent": ("extra_fraction", "latent_distance"),
    "extra+latent+normative": ("extra_fraction", "latent_distance", "normative_score"),
    "latent+normative": ("latent_distance", "normative_score"),
    "dice+latent (published pair)": ("recon_score", "latent_distance"),
}


def cohort_dir(work: Path, cohort: str, seed: int) -> Path:
    from scripts.synthetic.cohort import generate_cohort

    folder = work / "cohorts" / f"{cohort}_seed{seed}"
    if not (folder / "datalist.json").is_file():
        generate_cohort(folder, seed=seed, progress=False, **COHORTS[cohort])
    return folder


def summarise(study: Path) -> dict:
    """The figures of one scored study: every score's AUC row and the Dice per health status."""
    import pandas as pd

    from scripts.checkpoints import load_checkpoint
    from scripts.layout import StudyLayout

    report = study / "report"
    aucs = pd.read_csv(report / "auc.csv")
    table = pd.read_csv(report / "per_subject_scores.csv")
    subjects = table.groupby(["id", "positive"], as_index=False)["dice"].mean()
    rows = aucs.drop(columns=["score"]).rename(columns={"column": "score"}).to_dict("records")
    rows += combinations(table)
    shape = aucs[aucs["kind"] == "shape model"].sort_values("auc").iloc[-1]
    baseline = aucs[aucs["kind"] == "baseline"].sort_values("auc").iloc[-1]
    reference = load_checkpoint(str(StudyLayout(str(study)).model(0)), map_location="cpu")["reference"]
    return {
        "combined_members": list(reference.get("members", [])),  # what `combined` meant for the models scored
        "scores": rows,
        "dice_healthy": float(subjects.loc[subjects["positive"] == 0, "dice"].mean()),
        "dice_abnormal": float(subjects.loc[subjects["positive"] == 1, "dice"].mean()),
        "best_score": str(shape["column"]),
        "best_auc": float(shape["auc"]),
        "best_baseline": str(baseline["column"]),
        "best_baseline_auc": float(baseline["auc"]),
    }


def combinations(table) -> list[dict]:
    """AUC of each of ``COMBINATIONS`` (mean of the members' calibrated z-scores), pooled over subjects."""
    from scripts.study.statistics import auc_with_ci

    rows = []
    for name, members in COMBINATIONS.items():
        columns = [f"{m}_z" for m in members]
        if not all(c in table for c in columns):
            continue
        combined = table.assign(value=table[columns].clip(upper=50).mean(axis=1))
        subjects = combined.groupby(["id", "positive"], as_index=False)["value"].mean()
        rows.append({"score": name, "kind": "combination", **auc_with_ci(subjects["positive"], subjects["value"])})
    return rows


def run_cohort(work: Path, cohort: str, seed: int, variants: list[str]) -> dict:
    from scripts.study.runner import build_study_report, recalibrate_fold, run_study, study_tracking_uri

    dataset = cohort_dir(work, cohort, seed)
    root = work / "studies" / f"{cohort}_seed{seed}"
    out = {}
    start = time.time()
    if not report_is_current(root / "bundle"):
        run_study(str(dataset), str(root / "bundle"))
    out["bundle"] = summarise(root / "bundle")
    print(f"{cohort} seed {seed} bundle: {time.time() - start:.0f} s", flush=True)
    for name in variants + scored_variants(root, variants):
        start = time.time()
        target = root / name
        uri = study_tracking_uri(target, None)
        for fold in range(5):
            recalibrate_fold(fold, str(dataset), str(root / "bundle"), str(target), uri, VARIANTS[name])
        if not report_is_current(target):
            build_study_report(str(dataset), str(target))
        out[name] = summarise(target)
        print(f"{cohort} seed {seed} {name}: {time.time() - start:.0f} s", flush=True)
    return out


def report_is_current(study: Path) -> bool:
    """Every fold scored and the report written after the last of them: summarising needs no rebuild."""
    from scripts.layout import StudyLayout

    layout, auc = StudyLayout(str(study)), study / "report" / "auc.csv"
    if not auc.is_file() or not all(layout.scored(f) for f in range(5)):
        return False
    return auc.stat().st_mtime > max(layout.scores(f).stat().st_mtime for f in range(5))


def scored_variants(root: Path, requested: list[str]) -> list[str]:
    """Variants not requested this time but already scored on every fold by an earlier run: reported as well."""
    from scripts.layout import StudyLayout

    done = [p.name for p in root.iterdir() if p.name in VARIANTS and p.name not in requested]
    return sorted(n for n in done if all(StudyLayout(str(root / n)).scored(f) for f in range(5)))


def verdicts(results: dict, held_out: list[int]) -> dict:
    """Targets on the held-out seeds: best score AUC, beating the baselines, healthy Dice."""
    out = {}
    for cohort, target in TARGETS.items():
        for seed in held_out:
            key = f"{cohort}_seed{seed}"
            if key not in results:
                continue
            bundle = results[key]["bundle"]
            out[key] = {
                "best_auc": bundle["best_auc"],
                "target_auc": target,
                "target_met": bundle["best_auc"] >= target,
                "beats_baselines": bundle["best_auc"] > bundle["best_baseline_auc"],
                "healthy_dice": bundle["dice_healthy"],
                "healthy_dice_target_met": cohort == "mild_noisy" or bundle["dice_healthy"] >= 0.95,
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="1,2", help="generator seeds; the first is the tuning seed")
    parser.add_argument("--cohorts", default=",".join(COHORTS))
    parser.add_argument("--variants", default=",".join(VARIANTS), help="fit variants on the tuning seed ('' for none)")
    parser.add_argument("--held_out_variants", default="no_prior", help="fit variants on the other seeds")
    parser.add_argument("--work_dir", type=Path, default=RESULTS / "anomaly")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    facts = machine_facts()
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = [v for v in args.variants.split(",") if v]
    held_out_variants = [v for v in args.held_out_variants.split(",") if v]
    results = {}
    for seed in seeds:
        for cohort in args.cohorts.split(","):
            chosen = variants if seed == seeds[0] else held_out_variants
            results[f"{cohort}_seed{seed}"] = run_cohort(args.work_dir, cohort, seed, chosen)
    figures = {
        "bundle_version": json.loads((BUNDLE / "configs" / "metadata.json").read_text())["version"],
        "cohorts": COHORTS,
        "variants": {"bundle": "the bundle's defaults", **VARIANTS},
        "tuning_seed": seeds[0],
        "held_out_seeds": seeds[1:],
        "results": results,
        "targets_on_held_out_seeds": verdicts(results, seeds[1:]),
    }
    for key, variants_result in results.items():
        for variant, summary in variants_result.items():
            best = f"{summary['best_score']} {summary['best_auc']:.3f}"
            baseline = f"{summary['best_baseline']} {summary['best_baseline_auc']:.3f}"
            dice = f"{summary['dice_healthy']:.3f}/{summary['dice_abnormal']:.3f}"
            print(f"{key:22s} {variant:12s} best {best:28s} baseline {baseline:32s} Dice healthy/abnormal {dice}")
    write_result("anomaly_detection", figures, facts, args.output)


if __name__ == "__main__":
    main()
