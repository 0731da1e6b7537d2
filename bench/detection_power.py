"""Detection of abnormal shapes with the power to resolve a difference of 0.05 in AUC.

Per cohort (below) and generator seed, a user's cohort of 48 healthy subjects trains ensemble members with the configs'
defaults (38 train, 10 validate and calibrate; member m with seed m), and an independent test cohort of 100 healthy and
100 sarcopenic subjects, drawn with another seed, is scored through the configs (``power_runs``) by member 0 alone and
by the ensembles of the first K members, assembled and calibrated by the bundle (``python -m scripts ensemble``).
Reported per score: AUC with a bootstrap 95% interval and a paired DeLong test against the best voxel-PCA score on the
same subjects (the most favourable choice for the baseline), healthy and abnormal Dice, seconds per subject; beside
them, each single member's AUCs, the alternative ensemble that averages its members' calibrated z-scores, and every fit
variant tried (member 0 recalibrated with other fit settings, on the tuning seeds).

Seeds: ``--tuning_seeds`` are the ones methods and settings were chosen on; ``--held_out_seeds`` were never used for
choosing, and their figures are the ones to quote. Results go to ``bench/results/detection_power.json``; runs are kept
in ``--work_dir`` and reused, so the benchmark can be run in pieces. On 2 CPU cores a member takes about 2 minutes to
train and 4 to score; an ensemble of K members about 1.5 K minutes per 100 subjects to score.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import RESULTS, machine_facts, write_result
from power_runs import (
    benchmark_cohort,
    build_member_ensemble,
    member_dir,
    recalibrate_member,
    score_member,
    train_member,
)
from power_scores import baseline_table, bundle_scores, compare, dice_by_status, ensemble, member_table

from scripts.settings import bundle_version

COHORTS = {
    "default": {"strength": 1.0},
    "mild": {"strength": 0.4},
    "mild_noisy": {"strength": 0.4, "contour_jitter": 0.04, "fov_cut": 0.1, "slice_thickness_mm": 2.0},
}
# Fit variants rescored with member 0 on the tuning seeds (the member recalibrated with these settings).
VARIANTS = {
    "prior_0": {"fit_prior_weight": 0.0},
    "prior_1e-2": {"fit_prior_weight": 1e-2},
}
ENSEMBLE_SIZES = (1, 3, 5)


def run_cohort(work: Path, cohort: str, seed: int, members: int, variants: list[str], score_members: bool) -> dict:
    """Train, score and compare one cohort and seed; every figure of it."""
    dataset = benchmark_cohort(work / "cohorts" / f"{cohort}_seed{seed}", seed, COHORTS[cohort])
    run_dir = work / "runs" / f"{cohort}_seed{seed}"
    tables, timings, training = [], [], []
    for member in range(members):
        training.append(train_member(dataset, run_dir, member))
        if member == 0 or score_members:  # the others only as parts of the ensembles, unless asked for
            model = member_dir(run_dir, member) / "models" / "model.pt"
            timings.append(score_member(dataset, model, member_dir(run_dir, member) / "test"))
            tables.append(member_table(member_dir(run_dir, member) / "test"))
            print(f"{cohort} seed {seed}: member {member} scored", flush=True)
    baselines = baseline_table(dataset, run_dir / "baselines.csv")
    columns = bundle_scores(tables[0])
    out = {"training_seconds": [t for t in training if t > 0]}
    for size in [k for k in ENSEMBLE_SIZES if k <= members]:
        if size == 1:
            table, timing = tables[0], timings[0]
        else:
            model = build_member_ensemble(dataset, run_dir, size)
            timing = score_member(dataset, model, run_dir / f"ensemble{size}" / "test")
            table = member_table(run_dir / f"ensemble{size}" / "test")
        figures = compare(table.merge(baselines, on="id"), columns + ["volume_score", "flatness_score"])
        out[f"ensemble_{size}"] = {
            **figures,
            **dice_by_status(table),
            "seconds_per_subject": timing["seconds_per_subject"],
        }
        if size > 1 and len(tables) >= size:  # the alternative: each member's calibrated scores, averaged
            table = ensemble(tables[:size], columns).merge(baselines, on="id")
            out[f"mean_of_members_{size}"] = {**compare(table, columns), **dice_by_status(table)}
    singles = [compare(t.merge(baselines, on="id"), columns) for t in tables]
    out["single_members"] = {c: [s["scores"][c]["auc"] for s in singles] for c in columns}
    for name in variants:
        folder = run_dir / "variants" / name
        recalibrate_member(dataset, member_dir(run_dir, 0) / "models" / "model.pt", folder / "models", VARIANTS[name])
        timing = score_member(dataset, folder / "models" / "model.pt", folder / "test")
        table = member_table(folder / "test").merge(baselines, on="id")
        out[f"variant_{name}"] = {**compare(table, bundle_scores(table)), **dice_by_status(table), **timing}
    return out


def summary_lines(results: dict) -> list[str]:
    lines = []
    for key, result in results.items():
        for part, figures in result.items():
            if not isinstance(figures, dict) or "scores" not in figures:
                continue
            best_pca = figures["best_pca"]
            pca = figures["scores"][best_pca]
            lines.append(
                f"{key} {part}: best PCA {best_pca} {pca['auc']:.3f}; healthy Dice {figures['dice_healthy']:.3f}"
            )
            ranked = sorted(figures["scores"].items(), key=lambda kv: -kv[1]["auc"])
            for name, row in ranked:
                if name.startswith("ssm_"):
                    continue
                lines.append(
                    f"    {name:28s} {row['auc']:.3f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"
                    f"  vs PCA {row['vs_best_pca']:+.3f} p={row['delong_p']:.3g}"
                )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tuning_seeds", default="1,2")
    parser.add_argument("--held_out_seeds", default="3")
    parser.add_argument("--cohorts", default=",".join(COHORTS))
    parser.add_argument("--members", type=int, default=5, help="ensemble members trained per cohort and seed")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="fit variants on the tuning seeds ('' for none)")
    parser.add_argument("--score_members", action="store_true", help="score every member alone too, not only member 0")
    parser.add_argument("--work_dir", type=Path, default=RESULTS / "detection_power")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    facts = machine_facts()
    tuning = [int(s) for s in args.tuning_seeds.split(",") if s]
    held_out = [int(s) for s in args.held_out_seeds.split(",") if s]
    variants = [v for v in args.variants.split(",") if v]
    results = {}
    for seed in tuning + held_out:
        for cohort in args.cohorts.split(","):
            chosen = variants if seed in tuning else []
            results[f"{cohort}_seed{seed}"] = run_cohort(
                args.work_dir, cohort, seed, args.members, chosen, args.score_members
            )
    figures = {
        "bundle_version": bundle_version(),
        "cohorts": COHORTS,
        "variants": VARIANTS,
        "tuning_seeds": tuning,
        "held_out_seeds": held_out,
        "results": results,
    }
    print("\n".join(summary_lines(results)))
    write_result("detection_power", figures, facts, args.output)


if __name__ == "__main__":
    main()
