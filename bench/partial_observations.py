"""Fitting from partial observations: reconstruction and anomaly detection against the observed fraction.

For each cohort, fold (``--folds``, fold 0 by default) and observation below, a copy of the fold's model is calibrated
on the fold's validation subjects in that observation (``configs/calibrate.json``), then the fold's test subjects are
scored in it (``configs/inference.json`` + ``configs/evaluate.json``), exactly as a user would. Reported per
observation: the observed fraction (the share of the reconstructed muscle that was observed), the reconstruction Dice
against the *full* mask (healthy and sarcopenic separately), the ROC AUC of sarcopenic against healthy test subjects
for the calibrated scores (bootstrap 95% interval; over several folds each subject counts once, its scores averaged
over the folds that tested it), and the scoring time per subject; a PNG beside the JSON draws the healthy Dice and the
combined AUC against the observed fraction.

The ``given`` observations are real ones: the bench writes each subject's file with every slice but the chosen ones
emptied (every k-th slice of the file along its third axis, from an offset drawn per subject) and lists the slices in
the datalist (``observed_slices``), so that fitting reads only the file, as for a real acquisition.

Cohorts (``--cohorts``): the demo cohort, whose fold 0 model is the shipped one, and 5-fold study cohorts of the
demo's size drawn by the mild-anomaly benchmark's generators (``bench/detection_power.py``: ``mild`` and
``mild_noisy``) with ``--hard_seed`` (2 by default, as the 0.4.0 measurements in the model card used); every other
model is trained here with the study's budgets. ``--cohort NAME DATASET_DIR STUDY_DIR`` (repeatable) adds one whose
STUDY_DIR holds ``fold<k>/models/model.pt`` for the folds asked for. The observation levels were fixed before
anything was measured; nothing here was tuned. About 1 to 2 minutes per cohort, fold and observation on 2 CPU cores,
2 more per model trained; finished ones are reused.
"""

from __future__ import annotations

import argparse
import json
import time
import zlib
from pathlib import Path

import numpy as np
from common import BUNDLE, RESULTS, demo_cohort, machine_facts, write_result

from scripts.settings import bundle_version

OBSERVATIONS = {
    "full": {"observation": "full"},
    "parallel_2": {"observation": "parallel", "observation_step": 2},
    "parallel_4": {"observation": "parallel", "observation_step": 4},
    "parallel_8": {"observation": "parallel", "observation_step": 8},
    "orthogonal_1": {"observation": "orthogonal", "observation_offsets_mm": [0.0]},
    "orthogonal_3": {"observation": "orthogonal", "observation_offsets_mm": [-10.0, 0.0, 10.0]},
    "orthogonal_off8": {"observation": "orthogonal", "observation_offsets_mm": [8.0]},
    "thick_4mm": {"observation": "thick", "observation_step": 4, "observation_thickness_mm": 4.0},
    "thick_8mm": {"observation": "thick", "observation_step": 8, "observation_thickness_mm": 8.0},
    "thick_4mm_gap_4mm": {"observation": "thick", "observation_step": 8, "observation_thickness_mm": 4.0},
    "given_4": {"observation": "given", "every": 4},
    "given_8": {"observation": "given", "every": 8},
}
SCORES = ("combined", "extra_fraction", "latent_distance", "recon_score")
QUIET = {"save_overlays": False, "save_meshes": False, "save_summary_page": False}


def given_cohort(source: Path, out: Path, every: int) -> Path:
    """``source`` with each file emptied but for every ``every``-th slice along its third axis, listed per subject."""
    import nibabel as nib

    from scripts.layout import cohort_datalist

    if Path(cohort_datalist(out)).is_file():
        return out
    datalist = json.loads(Path(cohort_datalist(source)).read_text())
    (out / "images").mkdir(parents=True, exist_ok=True)
    for subject in datalist["subjects"]:
        image = nib.load(source / subject["image"])
        data = np.asarray(image.dataobj)
        start = zlib.crc32(subject["id"].encode()) % every
        kept = list(range(start, data.shape[2], every))
        partial = np.zeros_like(data)
        partial[:, :, kept] = data[:, :, kept]
        nib.save(nib.Nifti1Image(partial, image.affine, image.header), out / subject["image"])
        subject["observed_slices"] = {"2": kept}
    Path(cohort_datalist(out)).write_text(json.dumps(datalist, indent=1))
    return out


def score_observation(source: Path, dataset: Path, out: Path, overrides: dict, fold: int) -> dict:
    """Calibrate a copy of the fold's model in the observation, then score the fold's test subjects; timings."""
    from scripts.layout import StudyLayout
    from scripts.study.runner import fold_overrides
    from scripts.study.workflows import run_workflow
    from scripts.tracking import sqlite_tracking_uri

    layout = StudyLayout(out)
    timings_file = layout.fold_dir(fold) / "timings.json"
    if layout.scored(fold) and timings_file.is_file():
        return json.loads(timings_file.read_text())
    common = {**fold_overrides(layout, fold, str(dataset), sqlite_tracking_uri(layout.tracking_db())), **overrides}
    start = time.perf_counter()
    run_workflow(["train.json", "calibrate.json"], "train", source_ckpt=str(StudyLayout(source).model(fold)), **common)
    calibrated = time.perf_counter()
    run_workflow(["inference.json", "evaluate.json"], "infer", **common, **QUIET)
    timings = {"calibration_s": calibrated - start, "scoring_s": time.perf_counter() - calibrated}
    timings_file.write_text(json.dumps(timings))
    return timings


def full_dice(recon_path: Path, full_path: Path) -> float:
    import nibabel as nib

    recon = np.asarray(nib.load(recon_path).dataobj) > 0
    full = np.asarray(nib.load(full_path).dataobj) > 0
    return float(2 * (recon & full).sum() / max(recon.sum() + full.sum(), 1))


def full_mask_file(image: str, scored: Path, full_cohort: Path) -> Path:
    """The full mask of a scored input: the input itself, or for a ``given`` cohort (``given_cohort``) the file at
    the same place in the cohort it was made from."""
    if Path(scored).resolve() == Path(full_cohort).resolve():
        return Path(image)  # (a cohort's files may be links elsewhere: their resolved paths leave its folder)
    return full_cohort / Path(image).resolve().relative_to(scored.resolve())


def summarise(out: Path, full_cohort: Path, timings: dict[int, dict], scored: Path | None = None) -> dict:
    """Figures of one observation over the scored folds: a subject tested in several folds (the sarcopenic ones)
    counts once in the AUC, with its calibrated scores averaged over them, as the study pools them."""
    from scripts.layout import StudyLayout, SubjectFiles
    from scripts.scoring.statistics import auc_with_ci

    layout = StudyLayout(out)
    rows = []
    for fold in timings:
        files = SubjectFiles(layout.scores_dir(fold))
        for row in json.loads(layout.scores(fold).read_text())["subjects"]:
            recon = files.labelmap(row["id"], "recon", row["image"])
            full = full_mask_file(row["image"], scored or full_cohort, full_cohort)
            rows.append(dict(row, full_dice=full_dice(recon, full)))
    positive = np.array([not bool(row["healthy"]) for row in rows])
    scoring_s = sum(t["scoring_s"] for t in timings.values())
    healthy_dice = np.array([r["full_dice"] for r, p in zip(rows, positive, strict=True) if not p])
    result = {
        "folds": sorted(timings),
        "scored": len(rows),
        "subjects": len({row["id"] for row in rows}),
        "sarcopenic": len({row["id"] for row, p in zip(rows, positive, strict=True) if p}),
        "observed_fraction": float(np.mean([row["observed_fraction"] for row in rows])),
        "full_dice_healthy": float(healthy_dice.mean()),
        "full_dice_healthy_min": float(healthy_dice.min()),
        "healthy_at_least_095": float(np.mean(healthy_dice >= 0.95)),
        "full_dice_sarcopenic": float(np.mean([r["full_dice"] for r, p in zip(rows, positive, strict=True) if p])),
        "observed_dice_healthy": float(np.mean([r["dice"] for r, p in zip(rows, positive, strict=True) if not p])),
        "seconds_per_subject": scoring_s / len(rows),
        "calibration_s": sum(t["calibration_s"] for t in timings.values()) / len(timings),
        "full_dice_by_subject": {row["id"]: row["full_dice"] for row in rows},
        "auc": {},
    }
    for score in SCORES:
        column = f"{score}_z" if f"{score}_z" in rows[0] else score
        per_subject: dict[str, list] = {}
        for row, p in zip(rows, positive, strict=True):
            per_subject.setdefault(row["id"], [p, []])[1].append(float(row[column]))
        labels = np.array([int(p) for p, _ in per_subject.values()])
        result["auc"][score] = auc_with_ci(labels, np.array([np.mean(v) for _, v in per_subject.values()]))
    return result


def card_summary(figures: dict) -> dict:
    """The figures the model card quotes: per cohort and observation the Dice against the full mask (healthy mean,
    worst, share at 0.95 or more; sarcopenic mean) and the decision score's AUC; the paired comparison if any."""
    keep = ("observed_fraction", "full_dice_healthy", "full_dice_healthy_min", "healthy_at_least_095")
    keep += ("full_dice_sarcopenic",)
    results = {
        cohort: {
            name: {**{k: round(found[k], 4) for k in keep}, "auc_combined": round(found["auc"]["combined"]["auc"], 3)}
            for name, found in observations.items()
        }
        for cohort, observations in figures["results"].items()
    }
    kept = ("bundle_version", "fit_translation", "folds", "paired_with")
    return {"benchmark": "partial_observations", **{k: figures[k] for k in kept if k in figures}, "results": results}


def paired_dice(earlier: dict, results: dict) -> dict:
    """Per cohort and observation scored in both runs: this run's Dice against the full mask minus the earlier run's,
    subject by subject (mean, subjects better, Wilcoxon signed-rank p): what a setting changed, on the same subjects."""
    from scipy.stats import wilcoxon

    out: dict = {}
    for cohort, observations in results.items():
        for observation, now in observations.items():
            before = earlier.get(cohort, {}).get(observation, {}).get("full_dice_by_subject")
            if not before:
                continue
            ids = sorted(set(before) & set(now["full_dice_by_subject"]))
            a = np.array([before[i] for i in ids])
            b = np.array([now["full_dice_by_subject"][i] for i in ids])
            out.setdefault(cohort, {})[observation] = {
                "subjects": len(ids),
                "dice_before": float(a.mean()),
                "dice_now": float(b.mean()),
                "difference": float((b - a).mean()),
                "better": int((b > a).sum()),
                "p_value": float(wilcoxon(b, a).pvalue) if np.any(b != a) else 1.0,
            }
    return out


def plot(results: dict, path: Path) -> Path:
    """Healthy Dice against the full mask and combined AUC (with its interval) against the observed fraction: one
    colour per cohort, one marker per kind of observation, its sparsity levels joined by a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    markers = {"full": "o", "parallel": "s", "orthogonal": "^", "thick": "D", "given": "v"}
    figure, (dice_axis, auc_axis) = plt.subplots(1, 2, figsize=(12, 4.6))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for colour, (cohort, rows) in zip(colours, results.items(), strict=False):
        for mode, marker in markers.items():
            kept = sorted(
                (row for name, row in rows.items() if OBSERVATIONS[name]["observation"] == mode),
                key=lambda row: row["observed_fraction"],
            )
            if not kept:
                continue
            x = [row["observed_fraction"] for row in kept]
            auc = np.array([[r["auc"]["combined"][k] for k in ("auc", "ci_low", "ci_high")] for r in kept])
            style = {"color": colour, "marker": marker, "linewidth": 0.8, "markersize": 6}
            dice_axis.plot(x, [r["full_dice_healthy"] for r in kept], **style)
            auc_axis.errorbar(x, auc[:, 0], yerr=[auc[:, 0] - auc[:, 1], auc[:, 2] - auc[:, 0]], capsize=2, **style)
        auc_axis.plot([], [], color=colour, label=cohort)
    for mode, marker in markers.items():
        dice_axis.plot([], [], color="grey", marker=marker, linestyle="none", label=mode)
    dice_axis.set(xlabel="observed fraction of the muscle", ylabel="healthy Dice against the full mask", xlim=(0, 1.05))
    auc_axis.set(xlabel="observed fraction of the muscle", ylabel="ROC AUC of the combined score", xlim=(0, 1.05))
    dice_axis.legend(fontsize=8)
    auc_axis.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def trained_source(work: Path, name: str, dataset: Path, folds: list[int], shipped: Path | None = None) -> Path:
    """A study folder holding a model for each fold: ``shipped`` (trained on fold 0) where given, the others trained
    here on ``dataset`` with the study's budgets, as ``python -m scripts study`` trains them."""
    from scripts.layout import StudyLayout
    from scripts.study.runner import STUDY_OVERRIDES, fold_overrides
    from scripts.study.workflows import run_workflow
    from scripts.tracking import sqlite_tracking_uri

    source = work / "trained" / name
    layout = StudyLayout(source)
    for fold in folds:
        model = layout.model(fold)
        if model.is_file():
            continue
        if fold == 0 and shipped is not None:
            model.parent.mkdir(parents=True, exist_ok=True)
            model.symlink_to(shipped.resolve())
            continue
        common = fold_overrides(layout, fold, str(dataset), sqlite_tracking_uri(layout.tracking_db()))
        training = {k: v for k, v in STUDY_OVERRIDES.items() if k != "save_overlays"}
        run_workflow(["train.json"], "train", run_name=f"fold{fold}_train", **common, **training)
    return source


def study_cohort(work: Path, cohort: str, seed: int) -> Path:
    """A 5-fold study cohort (the demo's counts: 24 Y, 24 OH, 16 OS) drawn by the generator of ``cohort`` (one of
    ``detection_power.COHORTS``) with ``seed``, made once."""
    from detection_power import COHORTS

    from scripts.layout import cohort_datalist
    from scripts.synthetic.cohort import generate_cohort

    folder = work / "cohorts" / f"{cohort}_seed{seed}"
    if not Path(cohort_datalist(folder)).is_file():
        generate_cohort(folder, seed=seed, progress=False, **COHORTS[cohort])
    return folder


def sources(work: Path, cohorts: list[str], seed: int, folds: list[int]) -> dict[str, tuple[Path, Path]]:
    """The dataset and the trained models of each cohort: the demo cohort (fold 0: the shipped model), and study
    cohorts of the mild-anomaly benchmark's generators drawn with ``seed``."""
    from detection_power import COHORTS

    out = {}
    for cohort in cohorts:
        if cohort == "demo":
            dataset = demo_cohort()
            out[cohort] = dataset, trained_source(work, cohort, dataset, folds, BUNDLE / "models" / "model.pt")
        elif cohort in COHORTS:
            name, dataset = f"{cohort}_seed{seed}", study_cohort(work, cohort, seed)
            out[name] = dataset, trained_source(work, name, dataset, folds)
        else:
            raise SystemExit(f"--cohorts: {cohort!r} is not demo or one of {', '.join(COHORTS)}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cohorts", default="demo,mild,mild_noisy", help="demo and the mild-anomaly cohorts")
    parser.add_argument("--hard_seed", type=int, default=2, help="generator seed of the mild-anomaly cohorts")
    parser.add_argument("--cohort", nargs=3, action="append", metavar=("NAME", "DATASET_DIR", "STUDY_DIR"))
    parser.add_argument("--folds", default="0", help="folds scored, each with its own model; AUC pooled over them")
    parser.add_argument("--observations", default=",".join(OBSERVATIONS))
    parser.add_argument("--work_dir", type=Path, default=RESULTS / "partial")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--summary", type=Path, default=None, help="also write the card's figures here (small JSON)")
    parser.add_argument("--paired_with", type=Path, default=None, help="an earlier run's JSON: Dice subject by subject")
    parser.add_argument(
        "--fit_translation", choices=("true", "false"), default=None, help="the setting (default: the configs')"
    )
    args = parser.parse_args()
    facts = machine_facts()
    work = args.work_dir.resolve()
    folds = [int(f) for f in args.folds.split(",")]
    unknown = [o for o in args.observations.split(",") if o not in OBSERVATIONS]
    if unknown:
        raise SystemExit(f"--observations: {', '.join(unknown)} not among {', '.join(OBSERVATIONS)}")
    cohorts = sources(work, [c for c in args.cohorts.split(",") if c], args.hard_seed, folds)
    cohorts.update({name: (Path(d).resolve(), Path(s).resolve()) for name, d, s in args.cohort or []})
    results: dict = {}
    for name, (dataset, source) in cohorts.items():
        results[name] = {}
        for observation in args.observations.split(","):
            overrides = dict(OBSERVATIONS[observation])
            if args.fit_translation is not None:
                overrides["fit_translation"] = args.fit_translation == "true"
            scored = dataset
            if overrides["observation"] == "given":
                every = overrides.pop("every")
                scored = given_cohort(dataset, work / "cohorts" / f"{name}_given_{every}", every)
            out = work / name / observation
            timings = {fold: score_observation(source, scored, out, overrides, fold) for fold in folds}
            results[name][observation] = summary = summarise(out, dataset, timings, scored)
            auc = summary["auc"]
            print(
                f"{name:17s} {observation:18s} folds {len(folds)} observed {summary['observed_fraction']:.3f} "
                f"Dice healthy {summary['full_dice_healthy']:.3f} sarcopenic {summary['full_dice_sarcopenic']:.3f} "
                f"AUC combined {auc['combined']['auc']:.3f} [{auc['combined']['ci_low']:.3f}, "
                f"{auc['combined']['ci_high']:.3f}] extra {auc['extra_fraction']['auc']:.3f} "
                f"latent {auc['latent_distance']['auc']:.3f} 1-Dice {auc['recon_score']['auc']:.3f} "
                f"{summary['seconds_per_subject']:.2f} s/subject",
                flush=True,
            )
    figures = {
        "bundle_version": bundle_version(),
        "observations": OBSERVATIONS,
        "folds": folds,
        "fit_translation": args.fit_translation or "the configs' default",
        "cohorts": {name: {"dataset": str(d), "models": str(s)} for name, (d, s) in cohorts.items()},
        "results": results,
    }
    if args.paired_with is not None:
        earlier = json.loads(args.paired_with.read_text())["figures"]
        figures["paired_with"] = {"run": str(args.paired_with), "fit_translation": earlier.get("fit_translation")}
        figures["paired_with"]["its_results"] = card_summary(earlier)["results"]
        figures["paired_with"].update(paired_dice(earlier["results"], results))
    output = write_result("partial_observations", figures, facts, args.output)
    if args.summary:
        args.summary.write_text(json.dumps(card_summary(figures), indent=1) + "\n")
    print(f"curve: {plot(results, output.with_suffix('.png'))}")


if __name__ == "__main__":
    main()
