"""Two visits: how reliable each score is on stable pairs, and how well its change finds progression, beside the twin.

With the shipped model: the change calibration is learned on ``--calibration_seed``'s stable pairs of healthy
subjects; ``--held_out_seed`` draws ``--pairs`` stable and ``--pairs`` progressing pairs (disease strength + ``--step``
between visits), never used for choosing anything, re-posed and re-segmented with rater noise. Reported per score: the
ICC(3,1), within-subject SD and MDC95 over the stable pairs; the AUC of its change (second minus first, oriented
towards abnormal) for progressing against stable pairs; the decision's ICC and AUC against the conventional shape
model's scores on the same files (``study.twins.TwinScorer`` fitted on the shipped model's healthy training subjects,
paired DeLong); the AUC of the change map's own numbers (deepest inward and outward change, share of the surface
beyond 1 mm); where the map puts the change (its top 5% of vertices against the region the generator changed,
``_localisation``); seconds per pair against seconds per visit (scored with the pair, without outputs of its own) and
against seconds per subject scored as a user scores one (overlays, meshes and summary page, as a pair has its change
meshes, figure and page).

    .venv/bin/python bench/progression.py [--pairs 100] [--step 0.2] [--summary bench/summaries/progression.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import nibabel as nib
import numpy as np
from common import BUNDLE, RESULTS, demo_cohort, machine_facts, write_result
from scipy.spatial import cKDTree
from sklearn.metrics import roc_auc_score

from scripts.change_calibration import calibrate_change
from scripts.data.geometry import voxel_to_world
from scripts.data.visits import datalist_pairs
from scripts.layout import cohort_datalist, model_file
from scripts.progression import CHANGE_NAMES, pair_map, run_progression, score_visits, visit_files
from scripts.scoring.change import change_map
from scripts.scoring.delong import delong_test
from scripts.scoring.reliability import reliability_table
from scripts.study.shape_model import SubjectShape, load_muscle
from scripts.study.twins import TwinScorer
from scripts.synthetic.visits import generate_visit_pairs

USER_OUTPUTS = {"save_overlays": True, "save_meshes": True, "save_summary_page": True}  # inference.json's defaults
NOISE = {"contour_jitter": 0.04, "rater_bias_mm": 0.3, "max_rotation_deg": 2.0}
MAP_SUMMARIES = ("change_inward_mm", "change_outward_mm", "changed_surface_fraction")
LOCAL_DISEASES = ("focal_dent", "distal_thinning")  # where the change map is also checked (no scoring needed)
TOP_SHARE, NEAR_MM, LOCALISED = 0.05, 2.0, 0.8  # the map's top 5% of vertices; "on the region": within 2 mm of it
TWIN_SCORES = ("sdf_residual", "sdf_mahalanobis", "twin_flattening", "twin_ssm_flattening", "twin_combined")
DECISION = "combined"


def _twin() -> TwinScorer:
    """The shape model of the shipped model's training subjects (the demo cohort's fold 0 train split)."""
    cohort = demo_cohort()
    datalist = json.loads(Path(cohort_datalist(cohort)).read_text())
    images = {s["id"]: str(cohort / s["image"]) for s in datalist["subjects"]}
    healthy = [SubjectShape.of_mask(*load_muscle(images[i])) for i in datalist["folds"][0]["train"]]
    return TwinScorer().fit(healthy)


def _orientation(name: str) -> float:
    """+1 when a larger value is more abnormal (the scores), -1 for Dice-like and volume: less is worse."""
    return -1.0 if name in ("dice", "volume_input_ml") else 1.0


def _auc(labels, values) -> float:
    values = np.asarray(values, dtype=float)
    keep = np.isfinite(values)
    return float(roc_auc_score(np.asarray(labels)[keep], values[keep]))


def _localisation(maps, cohort: Path) -> dict:
    """Per progressing pair (``maps``: its subject and change map): the share of the map's top ``TOP_SHARE``
    vertices (largest change either way) within ``NEAR_MM`` of a voxel the disease's growth changed (the generator's
    noise-free truth); a pair whose share reaches ``LOCALISED`` has its change where the generator put it. Beside it
    the region's own share of the surface: what vertices taken at random would score."""
    shares, chance = [], []
    for subject, mapped in maps:
        truth = nib.load(cohort / "truth" / f"{subject}_changed.nii.gz")
        near = cKDTree(voxel_to_world(np.argwhere(np.asarray(truth.dataobj) > 0), truth.affine))
        on_region = near.query(mapped.surface.vertices)[0] <= NEAR_MM
        top = np.argsort(-np.abs(mapped.change), kind="stable")[: max(1, int(TOP_SHARE * len(mapped.change)))]
        shares.append(float(np.mean(on_region[top])))
        chance.append(float(np.mean(on_region)))
    return {
        "top_share": TOP_SHARE, "near_mm": NEAR_MM, "localised_at": LOCALISED, "pairs": len(shares),
        "median_share_on_region": float(np.median(shares)), "median_region_share_of_surface": float(np.median(chance)),
        "pairs_localised": float(np.mean(np.asarray(shares) >= LOCALISED)),
    }  # fmt: skip


def _file_maps(cohort: Path):
    """The change map of every progressing pair of ``cohort`` straight from its files (the map needs no model)."""
    for pair in datalist_pairs(cohort_datalist(cohort)):
        if pair.subject.startswith("P"):
            first, second = (load_muscle(str(cohort / visit["image"])) for visit in (pair.first, pair.second))
            yield pair.subject, change_map(*first, *second)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--calibration_pairs", type=int, default=20)
    parser.add_argument("--step", type=float, default=0.2)
    parser.add_argument("--disease", default="flattening")
    parser.add_argument("--calibration_seed", type=int, default=40)
    parser.add_argument("--held_out_seed", type=int, default=41)
    parser.add_argument("--timing_pairs", type=int, default=10, help="pairs whose visits time a user's scoring")
    parser.add_argument("--work_dir", type=Path, default=RESULTS / "progression", help="one per disease and step")
    parser.add_argument("--summary", default=None, help="also write the card's figures to this JSON file")
    args = parser.parse_args()
    facts, work = machine_facts(), args.work_dir.resolve()
    calibration_dir, held_out = (
        work / f"calibration_seed{args.calibration_seed}",
        work / f"pairs_seed{args.held_out_seed}",
    )
    generate_visit_pairs(calibration_dir, args.calibration_pairs, 0, seed=args.calibration_seed, **NOISE)
    generate_visit_pairs(held_out, args.pairs, args.pairs, args.step, disease=args.disease, seed=args.held_out_seed,
                         **NOISE)  # fmt: skip
    model = calibrate_change(model_file(BUNDLE / "models"), str(calibration_dir), str(work / "model.pt"))
    found = datalist_pairs(cohort_datalist(held_out))
    started = time.perf_counter()
    score_visits(found, str(model), work / "out" / "visits")  # timed apart: what a single visit costs
    visit_seconds = (time.perf_counter() - started) / (2 * len(found))
    timed = found[: args.timing_pairs]  # a single subject scored as a user scores one: overlays, meshes, summary page
    started = time.perf_counter()
    score_visits(timed, str(model), work / "out" / "single", **USER_OUTPUTS)
    subject_seconds = (time.perf_counter() - started) / (2 * len(timed))
    started = time.perf_counter()  # the pairs' changes, the visits already scored (reused, not scored again)
    document = json.loads(run_progression(str(model), str(work / "out"), dataset_dir=str(held_out)).read_text())
    pair_seconds = 2 * visit_seconds + (time.perf_counter() - started) / len(found)
    scored = (work / "out" / "visits").glob("*_scores.json")
    visits = {p.name.removesuffix("_scores.json"): json.loads(p.read_text()) for p in scored}
    twin = _twin()
    for row in visits.values():
        row.update(twin.score(SubjectShape.of_mask(*load_muscle(row["image"]))))
    files = visit_files(work / "out" / "visits", {})
    maps = ((p.subject, pair_map(p, files)) for p in found if p.subject.startswith("P"))
    localisation = {args.disease: _localisation(maps, held_out)}
    for disease in LOCAL_DISEASES:  # the map needs no scoring: other diseases straight from their files
        cohort = work / f"{disease}_seed{args.held_out_seed}"
        generate_visit_pairs(cohort, 0, args.pairs, args.step, disease=disease, seed=args.held_out_seed, **NOISE)
        localisation[disease] = _localisation(_file_maps(cohort), cohort)
    pairs = document["pairs"]
    stable = [p for p in pairs if p["subject"].startswith("S")]
    firsts, seconds = ([visits[p[k]] for p in stable] for k in ("first", "second"))
    names = [n for n in (*CHANGE_NAMES, *TWIN_SCORES) if n in firsts[0]]
    reliability = reliability_table(firsts, seconds, names)
    labels = [int(p["subject"].startswith("P")) for p in pairs]
    changes = {n: [_orientation(n) * (visits[p["second"]][n] - visits[p["first"]][n]) for p in pairs] for n in names}
    aucs = {n: _auc(labels, v) for n, v in changes.items()}
    map_aucs = {n: _auc(labels, [p[n] for p in pairs]) for n in MAP_SUMMARIES}  # the change map's own numbers
    best_twin = max(TWIN_SCORES, key=lambda n: aucs[n])
    figures = {
        "pairs_stable": len(stable), "pairs_progressing": sum(labels), "step": args.step, "disease": args.disease,
        "held_out_seed": args.held_out_seed, "calibration_seed": args.calibration_seed, "noise": NOISE,
        "reliability": reliability, "auc_change": aucs,
        "decision_icc": reliability[DECISION]["icc_3_1"],
        "best_twin_icc": max(reliability[n]["icc_3_1"] for n in TWIN_SCORES),
        "decision_auc": aucs[DECISION], "best_twin": best_twin, "best_twin_auc": aucs[best_twin],
        "delong_decision_vs_best_twin": delong_test(labels, changes[DECISION], changes[best_twin]),
        "localisation": localisation, "auc_change_map": map_aucs,
        "changed_decisions_stable": float(np.mean([p["changed"] for p in stable])),
        "changed_decisions_progressing": float(np.mean([p["changed"] for p in pairs if p["subject"].startswith("P")])),
        "seconds_per_visit": visit_seconds, "seconds_per_pair": pair_seconds,
        "pair_over_visit": pair_seconds / visit_seconds, "seconds_per_subject": subject_seconds,
        "pair_over_subject": pair_seconds / subject_seconds,
    }  # fmt: skip
    print(json.dumps({k: v for k, v in figures.items() if k not in ("reliability", "auc_change")}, indent=1))
    write_result("progression", figures, facts)
    if args.summary:
        Path(args.summary).write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
