"""The INR against its classical twin on partial observations: the same subjects, the same observed voxels.

Reads a finished ``partial_observations.py`` run (its JSON and ``--work_dir``) and, for each cohort and observation
there, fits the twin (``scripts.study.observed_fit``: a signed-distance shape model of the fold's healthy training
subjects, fitted to the observed voxels only, with a shift) to every scored test subject and to the validation
subjects the INR was calibrated on. The observed voxels are the bundle's own: each subject goes through the inference
config's load and shape transforms with the run's observation settings, so the twin sees what the INR saw.

Reported per cohort and observation, subject by subject against the INR: the Dice of the restored muscle against the
full mask (healthy and sarcopenic; mean difference, subjects better, Wilcoxon signed-rank p), and the AUC of each INR
score against its twin (paired DeLong): ``latent_distance`` against ``ssm_observed_distance`` (|coefficients|),
``recon_score`` against ``ssm_observed_recon`` (1 - observed Dice), and ``combined`` (the decision) against
``ssm_observed_combined`` (the mean z-score of the two against the validation subjects). The twin's settings
(``--temperature_mm``, ``--prior_weight``) are chosen on a tuning run and reported on another.
"""

from __future__ import annotations

import argparse
import inspect
import json
from pathlib import Path

import numpy as np
from common import machine_facts, write_result
from partial_observations import OBSERVATIONS, full_dice, full_mask_file

from scripts.scoring.metrics import mask_dice
from scripts.settings import bundle_version
from scripts.study.observed_fit import ObservedShapeFit

TWIN_SETTINGS = ("temperature_mm", "prior_weight")
PAIRS = {
    "latent_distance": "ssm_observed_distance",
    "recon_score": "ssm_observed_recon",
    "combined": "ssm_observed_combined",
}


def observed_subjects(dataset: Path, model: Path, observation: dict, split: str) -> list[dict]:
    """The ``split`` subjects of fold 0 after the inference config's load and shape transforms under ``observation``:
    id, the input's affine, its muscle as observed and the observed region (both on the input's own grid)."""
    import torch
    from monai.transforms import Compose

    from scripts.study.workflows import parse_configs

    settings = {k: v for k, v in observation.items() if k != "every"}
    parser = parse_configs(
        ["train.json", "inference.json"],
        dataset_dir=str(dataset),
        fold=0,
        split=split,
        ckpt_path=str(model),
        **settings,
    )
    names = ("load_transforms", "keep_input", "shape_transforms")
    parsed = [parser.get_parsed_content(name) for name in names]  # lists of transforms, or one transform
    chain = [t for found in parsed for t in (found if isinstance(found, list) else [found])]
    transform, out = Compose(chain), []
    for item in parser.get_parsed_content("inputs"):
        d = transform(dict(item))
        label = np.asarray(torch.as_tensor(d["label"])[0].cpu(), dtype=bool)
        region = d.get("label_observed")
        region = np.ones_like(label) if region is None else np.asarray(torch.as_tensor(region)[0].cpu(), dtype=bool)
        out.append(
            {"id": item["id"], "image": item["image"], "affine": d["label"].affine, "observed": label, "region": region}
        )
    return out


def healthy_model(dataset: Path):
    """The twin's shape model: fold 0's healthy training subjects, full, in the frame the INR sees them in."""
    from scripts.data.datalist import load_split
    from scripts.layout import cohort_datalist
    from scripts.study.observed_fit import in_input_frame
    from scripts.study.shape_model import ShapeModel, load_muscle
    from scripts.study.twins import fields_of

    train = load_split(cohort_datalist(dataset), 0, "train", healthy_only=True)
    return ShapeModel().fit(fields_of([in_input_frame(*load_muscle(item["image"])) for item in train]))


def twin_rows(fitter, subjects: list[dict], scored: Path, full_dataset: Path) -> dict[str, dict]:
    """Each subject's twin scores and the Dice of its restored muscle against the full mask."""
    import nibabel as nib

    rows = {}
    for subject in subjects:
        fit = fitter.fit(subject["observed"], subject["region"], subject["affine"])
        full = np.asarray(nib.load(full_mask_file(subject["image"], scored, full_dataset)).dataobj) > 0
        rows[subject["id"]] = {**fit.scores(), "full_dice": mask_dice(fit.restored, full)}
    return rows


def calibrated_combined(rows: dict, reference: dict) -> None:
    """``ssm_observed_combined``: the mean z-score of the twin's two scores against ``reference`` (healthy)."""
    for score in ("ssm_observed_distance", "ssm_observed_recon"):
        values = np.array([r[score] for r in reference.values()])
        mean, spread = values.mean(), max(values.std(ddof=1), 1e-9)
        for row in rows.values():
            row[f"{score}_z"] = (row[score] - mean) / spread
    for row in rows.values():
        row["ssm_observed_combined"] = (row["ssm_observed_distance_z"] + row["ssm_observed_recon_z"]) / 2


def compare(inr: list[dict], twin: dict[str, dict], dice_by_subject: dict[str, float]) -> dict:
    """The INR's rows against the twin's on the same subjects: Dice against the full mask and paired AUCs."""
    from scipy.stats import wilcoxon

    from scripts.scoring.delong import delong_test
    from scripts.scoring.statistics import auc_with_ci

    ids = [row["id"] for row in inr]
    labels = np.array([0 if row["healthy"] else 1 for row in inr])
    out: dict = {"subjects": len(ids), "sarcopenic": int(labels.sum()), "dice": {}, "auc": {}}
    for name, keep in (("healthy", labels == 0), ("sarcopenic", labels == 1), ("all", labels >= 0)):
        a = np.array([dice_by_subject[i] for i in ids])[keep]
        b = np.array([twin[i]["full_dice"] for i in ids])[keep]
        out["dice"][name] = {
            "inr": float(a.mean()),
            "twin": float(b.mean()),
            "difference": float((a - b).mean()),
            "inr_better": int((a > b).sum()),
            "subjects": int(keep.sum()),
            "p_value": float(wilcoxon(a, b).pvalue) if np.any(a != b) else 1.0,
        }
    for score, twin_score in PAIRS.items():
        column = f"{score}_z" if f"{score}_z" in inr[0] else score
        a = np.array([float(row[column]) for row in inr])
        b = np.array([twin[i][twin_score] for i in ids])
        out["auc"][score] = {
            "inr": auc_with_ci(labels, a),
            "twin": auc_with_ci(labels, b),
            "twin_score": twin_score,
            "delong": delong_test(labels, a, b),
        }
    return out


def one_observation(work: Path, name: str, dataset: Path, observation: str, settings: dict, model) -> dict:
    """Fit the twin to one observation's validation and test subjects and compare it with the INR's rows."""
    from scripts.layout import StudyLayout, SubjectFiles

    layout, spec = StudyLayout(work / name / observation), OBSERVATIONS[observation]
    scored_dataset = work / "cohorts" / f"{name}_given_{spec['every']}" if spec["observation"] == "given" else dataset
    calibrated = layout.model(0)
    fitter = ObservedShapeFit(model, **settings)
    reference = twin_rows(fitter, observed_subjects(scored_dataset, calibrated, spec, "val"), scored_dataset, dataset)
    test = twin_rows(fitter, observed_subjects(scored_dataset, calibrated, spec, "test"), scored_dataset, dataset)
    calibrated_combined(test, reference)
    inr = json.loads(layout.scores(0).read_text())["subjects"]
    files = SubjectFiles(layout.scores_dir(0))
    recon = {r["id"]: files.labelmap(r["id"], "recon", r["image"]) for r in inr}
    dice = {r["id"]: full_dice(recon[r["id"]], full_mask_file(r["image"], scored_dataset, dataset)) for r in inr}
    return compare(inr, test, dice)


def _rounded(key: str, value):
    """A figure as the card quotes it: p-values to two significant digits, other fractions to four decimals."""
    if not isinstance(value, float):
        return value
    return float(f"{value:.2g}") if key == "p_value" else round(value, 4)


def card_summary(figures: dict) -> dict:
    """The figures the model card quotes: per cohort and observation, each group's Dice (INR, twin, p, INR better)
    and each score's AUC against its twin's (DeLong difference and p)."""

    def rounded(found: dict) -> dict:
        dice = {group: {k: _rounded(k, v) for k, v in values.items()} for group, values in found["dice"].items()}
        auc = {
            score: {
                "inr": round(v["inr"]["auc"], 3),
                "twin": round(v["twin"]["auc"], 3),
                "twin_score": v["twin_score"],
                "difference": round(v["delong"]["difference"], 3),
                "p_value": _rounded("p_value", v["delong"]["p_value"]),
            }
            for score, v in found["auc"].items()
        }
        return {"subjects": found["subjects"], "sarcopenic": found["sarcopenic"], "dice": dice, "auc": auc}

    results = {c: {o: rounded(found) for o, found in obs.items()} for c, obs in figures["results"].items()}
    kept = ("bundle_version", "run", "twin_settings")
    return {"benchmark": "partial_twin", **{k: figures[k] for k in kept}, "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="a partial_observations.py JSON")
    parser.add_argument("--work_dir", type=Path, required=True, help="that run's --work_dir")
    for setting in TWIN_SETTINGS:
        parser.add_argument(f"--{setting}", type=float, default=None, help="the twin's (default: observed_fit's)")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--summary", type=Path, default=None, help="also write the card's figures here (small JSON)")
    args = parser.parse_args()
    facts = machine_facts()
    run = json.loads(args.run.read_text())["figures"]
    defaults = inspect.signature(ObservedShapeFit).parameters  # the settings used, given or not
    used = {k: defaults[k].default if getattr(args, k) is None else getattr(args, k) for k in TWIN_SETTINGS}
    results: dict = {}
    for name, where in run["cohorts"].items():
        dataset = Path(where["dataset"])
        model = healthy_model(dataset)
        for observation in run["results"][name]:
            found = one_observation(args.work_dir.resolve(), name, dataset, observation, used, model)
            results.setdefault(name, {})[observation] = found
            dice, auc = found["dice"], found["auc"]
            print(
                f"{name:12s} {observation:16s} Dice healthy INR {dice['healthy']['inr']:.4f} twin "
                f"{dice['healthy']['twin']:.4f} (p {dice['healthy']['p_value']:.2g}) sarcopenic INR "
                f"{dice['sarcopenic']['inr']:.4f} twin {dice['sarcopenic']['twin']:.4f} | AUC "
                + " ".join(
                    f"{s} {v['inr']['auc']:.3f}/{v['twin']['auc']:.3f} (p {v['delong']['p_value']:.2g})"
                    for s, v in auc.items()
                ),
                flush=True,
            )
    figures = {"bundle_version": bundle_version(), "run": str(args.run), "twin_settings": used, "results": results}
    write_result("partial_twin", figures, facts, args.output)
    if args.summary:
        args.summary.write_text(json.dumps(card_summary(figures), indent=1) + "\n")


if __name__ == "__main__":
    main()
