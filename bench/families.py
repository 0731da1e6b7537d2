"""What the INR adds, disease family by disease family: every score beside its INR-free twin on the same subjects.

Per condition (below) and generator seed, a user's cohort of 48 healthy subjects trains a model with the configs'
defaults and fits the shape-model baselines and twins; 100 independent healthy test subjects and 100 sarcopenic ones
of each disease family (``synthetic.shape.DISEASES``) are scored by both (``family_runs``). Reported per family: the
AUC of every INR score and of every INR-free score, each INR score against its twin and the decision score against the
best INR-free score (paired DeLong), the abnormal axis from 8 labelled cases on INR codes against the same axis on
shape-model coefficients. Then the decision score is chosen leaving each family out: the candidate (a mean of the
model's calibrated z-scores) with the best mean AUC on the other families of the tuning seeds, reported on the family
left out of the held-out seeds (``family_scores.leave_one_family_out``).

Seeds: ``--tuning_seeds`` choose, ``--held_out_seeds`` report; a held-out seed never chooses anything. Results go to
``bench/results/families.json`` (a summary of the figures the model card quotes is committed as
``bench/summaries/families.json``); runs are kept in ``--work_dir`` and reused, so the benchmark runs in pieces. On 2
CPU cores one condition and seed takes about 40 minutes (training 3, fitting 800 subjects 25, baselines 12).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import RESULTS, machine_facts, write_result
from family_runs import baselines, family_cohort, scored
from family_scores import family_figures, inr_axis_scores, leave_one_family_out
from power_runs import train_member

from scripts.settings import bundle_version

CONDITIONS = {
    "mild": {"strength": 0.4},
    "mild_noisy": {"strength": 0.4, "contour_jitter": 0.04, "fov_cut": 0.1, "slice_thickness_mm": 2.0},
    "other_form": {
        "strength": 0.4,
        "healthy_model": "deformed_template",
        "rater_bias_mm": 0.5,
        "rater_smoothing_mm": 1.0,
    },
}


def family_tables(work: Path, condition: str, seed: int, families: tuple[str, ...]) -> dict:
    """One table per family (its sarcopenic subjects and the healthy test subjects) with every score."""
    dataset = family_cohort(work / "cohorts" / f"{condition}_seed{seed}", seed, CONDITIONS[condition], families)
    run_dir = work / "runs" / f"{condition}_seed{seed}"
    train_member(dataset, run_dir, 0)
    model = run_dir / "member0" / "models" / "model.pt"
    inr = scored(dataset, model, run_dir / "scores", ("train", "val", "test", "labelled"), families)
    table = (
        inr[inr["role"] == "test"]
        .drop(columns=["code"])
        .merge(baselines(dataset, run_dir / "baselines.csv", families), on="id")
    )
    table["positive"] = [0 if h in (True, "True", "true") else 1 for h in table["healthy"]]
    tables = {}
    for family in families:
        part = table[(table["positive"] == 0) | (table["disease"] == family)].copy()
        along = inr_axis_scores(inr, family)
        part["axis_score"] = along.loc[part["id"]].to_numpy()
        part["ssm_axis_score"] = part[f"ssm_axis_score_{family}"]
        tables[family] = part
        print(f"{condition} seed {seed} {family}: {len(part)} subjects", flush=True)
    return tables


def card_summary(figures: dict) -> dict:
    """The figures the model card quotes, per run and family: the decision score, the two regional scores and their
    twins, the best INR-free score with the paired test against it, the abnormal axis against its twin; and the
    decision score chosen leaving each family out."""
    keep = ("combined_z", "regional_flattening_z", "regional_atrophy_z", "latent_distance_z", "twin_flattening")
    keep += ("twin_ssm_atrophy", "twin_combined", "sdf_mahalanobis", "axis_score", "ssm_axis_score")
    runs = {}
    for key, result in figures["results"].items():
        runs[key] = {"role": result["role"]}
        for family in figures["families"]:
            found = result[family]
            versus = found["versus"]
            runs[key][family] = {
                "auc": {name: round(found["scores"][name], 3) for name in keep if name in found["scores"]},
                "combined_ci": [round(found["intervals"]["combined_z"][k], 3) for k in ("ci_low", "ci_high")],
                "combined_vs_best_inr_free": versus["combined_vs_best_inr_free"],
                "axis_vs_ssm_axis": versus["axis_vs_ssm_axis"],
            }
    keys = ("bundle_version", "conditions", "seeds", "families", "decision_choice")
    return {"benchmark": "families", **{k: figures[k] for k in keys}, "results": runs}


def merged_summary(earlier: dict | None, new: dict) -> dict:
    """``new`` added to a summary written by earlier runs: the benchmark runs in pieces (a condition, a seed, more
    families), and each piece keeps its own figures. A run and family measured again are replaced; the version each
    piece was measured with is kept beside it (``measured_with``)."""
    if earlier is None:
        return new
    out = json.loads(json.dumps(earlier))
    for name in new["families"]:
        if name not in out["families"]:
            out["families"].append(name)
    out["conditions"].update(new["conditions"])
    for role, seeds in new["seeds"].items():
        out["seeds"][role] = sorted(set(out["seeds"].get(role, [])) | set(seeds))
    out["decision_choice"].update(new["decision_choice"])
    for key, run in new["results"].items():
        kept = out["results"].setdefault(key, {"role": run["role"]})
        for family, found in run.items():
            if family != "role":
                kept[family] = {**found, "measured_with": new["bundle_version"]}
    return out


def main() -> None:
    from scripts.synthetic.shape import DISEASES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tuning_seeds", default="21")
    parser.add_argument("--held_out_seeds", default="22")
    parser.add_argument("--tuning_conditions", default="mild")
    parser.add_argument("--conditions", default=",".join(CONDITIONS), help="reported on the held-out seeds")
    parser.add_argument("--families", default=",".join(DISEASES))
    parser.add_argument("--work_dir", type=Path, default=RESULTS / "families")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--summary", type=Path, default=None, help="also write the card's figures here (small JSON)")
    args = parser.parse_args()
    facts = machine_facts()
    families = tuple(f for f in args.families.split(",") if f)
    seeds = {"tuning": [int(s) for s in args.tuning_seeds.split(",") if s]}
    seeds["held_out"] = [int(s) for s in args.held_out_seeds.split(",") if s]
    runs = {"tuning": args.tuning_conditions.split(","), "held_out": args.conditions.split(",")}
    results, tables = {}, {}
    for role in ("tuning", "held_out"):
        for seed in seeds[role]:
            for condition in runs[role]:
                key = f"{condition}_seed{seed}"
                tables[key] = family_tables(args.work_dir, condition, seed, families)
                results[key] = {"role": role, **{f: family_figures(t) for f, t in tables[key].items()}}
    choices = {}
    for tuning_key in (k for k in results if results[k]["role"] == "tuning"):
        for held_key in (k for k in results if results[k]["role"] == "held_out"):
            choices[f"{tuning_key}->{held_key}"] = leave_one_family_out(tables[tuning_key], tables[held_key])
    figures = {
        "bundle_version": bundle_version(),
        "conditions": CONDITIONS,
        "seeds": seeds,
        "families": list(families),
        "results": results,
        "decision_choice": choices,
    }
    write_result("families", figures, facts, args.output)
    if args.summary:
        earlier = json.loads(args.summary.read_text()) if args.summary.exists() else None
        args.summary.write_text(json.dumps(merged_summary(earlier, card_summary(figures)), indent=1) + "\n")


if __name__ == "__main__":
    main()
