"""How many labelled abnormal cases the abnormal axis needs, on the cohorts of ``detection_power.py``.

For each cohort and seed, the model that ``detection_power.py`` trained (member 0 with the configs' defaults, or
``--model ensemble3`` ...) also fits the user's 48 healthy subjects like new ones (its training subjects re-fitted, and
its validation subjects), as training does when it learns an axis. Then, for k = 2, 4, 8, 16 and ``--draws`` random
draws per k, k of the test cohort's 100 sarcopenic subjects are labelled, the axis (``scripts.scoring.AbnormalAxis``,
the bundle's own) is learned from them and the 48 healthy codes, and it scores the other test subjects (100 healthy
and 100 - k sarcopenic): ROC AUC per draw. Beside it, on the same subjects and draws: the same axis learned on the
voxel-PCA coefficients of the aligned masks and on volume alone (the fair supervised baselines), the bundle's
unsupervised decision score (k = 0) and the descriptor that knows the anomaly; and a paired DeLong test of the INR axis
against the PCA axis in every draw. Results: ``bench/results/label_efficiency.json`` and a PNG of the curves beside it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from common import RESULTS, machine_facts, write_result
from detection_power import COHORTS
from power_runs import benchmark_cohort, member_dir, score_member
from power_scores import baseline_table, member_table

LABELLED = (2, 4, 8, 16)
METHODS = ("mean_difference", "shrinkage_lda")


def inr_codes(folder: Path, ids: list[str]) -> np.ndarray:
    return np.stack([np.load(folder / f"{i}_code.npy").reshape(-1) for i in ids])


def representations(dataset: Path, run_dir: Path, model: str) -> tuple[dict, list[str], list[str], np.ndarray]:
    """Per representation (INR codes, PCA coefficients, volume), the healthy reference rows and the test rows; the
    test ids and their labels (1 = sarcopenic)."""
    from scripts.data.datalist import load_split
    from scripts.layout import cohort_datalist
    from scripts.study.baselines import VoxelPCAShapeModel, aligned_mask

    folder = member_dir(run_dir, 0) if model == "member0" else run_dir / model
    model_file = folder / "models" / "model.pt"
    for split in ("train", "val", "test"):
        score_member(dataset, model_file, folder / split, split=split)
    datalist = Path(cohort_datalist(dataset))
    healthy_items = load_split(datalist, 0, "train") + load_split(datalist, 0, "val")
    test = member_table(folder / "test")
    healthy_codes = np.concatenate(
        [inr_codes(folder / s, [i["id"] for i in load_split(datalist, 0, s)]) for s in ("train", "val")]
    )
    reference = [aligned_mask(i["image"]) for i in healthy_items]
    test_items = {i["id"]: i for i in load_split(datalist, 0, "test")}
    measured = [aligned_mask(test_items[i]["image"]) for i in test["id"]]
    pca = VoxelPCAShapeModel(0.95).fit(np.stack([m for m, _, _ in reference]))
    coefficients = lambda masks: pca.pca.transform(np.stack(masks).reshape(len(masks), -1).astype(np.float32))  # noqa: E731
    out = {
        "INR codes": (healthy_codes, inr_codes(folder / "test", list(test["id"]))),
        "voxel-PCA coefficients": (
            coefficients([m for m, _, _ in reference]),
            coefficients([m for m, _, _ in measured]),
        ),
        "volume": (np.array([[v] for _, v, _ in reference]), np.array([[v] for _, v, _ in measured])),
    }
    return out, list(test["id"]), list(test["combined_z"]), test["positive"].to_numpy()


def draws_for(labels: np.ndarray, k: int, draws: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng([seed, k])
    abnormal = np.flatnonzero(labels == 1)
    return [rng.choice(abnormal, size=k, replace=False) for _ in range(draws)]


def evaluate(reps: dict, labels: np.ndarray, unsupervised, flatness, draws: int, seed: int) -> dict:
    from sklearn.metrics import roc_auc_score

    from scripts.scoring.axis import AbnormalAxis
    from scripts.scoring.delong import delong_test

    out = {}
    for k in LABELLED:
        rows = {f"{name} ({method})": [] for name in reps for method in METHODS}
        rows.update({"unsupervised decision score": [], "knows the anomaly": [], "INR - PCA (mean difference)": []})
        p_values = []
        for labelled in draws_for(labels, k, draws, seed):
            keep = np.setdiff1d(np.arange(len(labels)), labelled)
            scores = {}
            for name, (healthy, test) in reps.items():
                for method in METHODS:
                    axis = AbnormalAxis()
                    axis.learn(healthy, test[labelled], method=method)
                    scores[f"{name} ({method})"] = axis.score(test[keep])
            for key, values in scores.items():
                rows[key].append(roc_auc_score(labels[keep], values))
            rows["unsupervised decision score"].append(roc_auc_score(labels[keep], np.asarray(unsupervised)[keep]))
            rows["knows the anomaly"].append(roc_auc_score(labels[keep], np.asarray(flatness)[keep]))
            paired = delong_test(
                labels[keep], scores["INR codes (mean_difference)"], scores["voxel-PCA coefficients (mean_difference)"]
            )
            rows["INR - PCA (mean difference)"].append(paired["difference"])
            p_values.append(paired["p_value"])
        out[str(k)] = {key: {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1))} for key, v in rows.items()}
        out[str(k)]["INR vs PCA DeLong p (median over draws)"] = float(np.median(p_values))
        out[str(k)]["INR vs PCA draws with p < 0.05"] = float(np.mean(np.array(p_values) < 0.05))
    return out


def curves_png(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4), squeeze=False)
    for axis, (key, per_k) in zip(axes[0], results.items(), strict=True):
        ks = [int(k) for k in per_k]
        for name in (
            "INR codes (mean_difference)",
            "voxel-PCA coefficients (mean_difference)",
            "volume (mean_difference)",
        ):
            axis.errorbar(
                ks,
                [per_k[str(k)][name]["mean"] for k in ks],
                [per_k[str(k)][name]["sd"] for k in ks],
                label=name,
                capsize=3,
            )
        for name, style in (("unsupervised decision score", ":"), ("knows the anomaly", "--")):
            axis.plot(ks, [per_k[str(k)][name]["mean"] for k in ks], style, label=name)
        axis.set(title=key, xlabel="labelled abnormal subjects", ylabel="ROC AUC", xscale="log", ylim=(0.4, 1.0))
        axis.set_xticks(ks, [str(k) for k in ks])
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="3", help="generator seeds (3: the held-out seed of detection_power.py)")
    parser.add_argument("--cohorts", default=",".join(COHORTS))
    parser.add_argument("--model", default="member0", help="member0, or ensembleK as built by detection_power.py")
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--work_dir", type=Path, default=RESULTS / "detection_power")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    facts = machine_facts()
    results = {}
    for seed in [int(s) for s in args.seeds.split(",")]:
        for cohort in args.cohorts.split(","):
            dataset = benchmark_cohort(args.work_dir / "cohorts" / f"{cohort}_seed{seed}", seed, COHORTS[cohort])
            run_dir = args.work_dir / "runs" / f"{cohort}_seed{seed}"
            reps, ids, unsupervised, labels = representations(dataset, run_dir, args.model)
            flatness = baseline_table(dataset, run_dir / "baselines.csv").set_index("id").loc[ids, "flatness_score"]
            results[f"{cohort}_seed{seed}"] = evaluate(
                reps, labels, unsupervised, flatness.to_numpy(), args.draws, seed
            )
            print(cohort, seed, json.dumps(results[f"{cohort}_seed{seed}"]["8"], indent=1), flush=True)
    path = write_result(
        "label_efficiency", {"model": args.model, "draws": args.draws, "results": results}, facts, args.output
    )
    curves_png(results, path.with_suffix(".png"))


if __name__ == "__main__":
    main()
