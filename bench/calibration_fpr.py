"""Does a decision at level L call 1 - L of new healthy subjects abnormal? Observed and nominal false-positive rates.

Per generator seed: a user's cohort of 48 healthy subjects (24 Y, 24 OH) trains a model with the configs' defaults
(38 train, 10 validate), and an independent pool of healthy subjects drawn with another seed (``--pool`` young, and as
many older healthy as ``--older``) is fitted once by that model like new subjects, through the configs' calibration
chain. Then, ``--draws`` times, ``--calibration`` subjects of the pool calibrate a healthy reference exactly as the
bundle does (``HealthyReference.calibrate_on``) and every other subject of the pool is judged against it: the share
called abnormal by the decision score at each level is the observed false-positive rate of that calibration. Reported
per level: the mean over draws (the rate a user can expect), its 10th and 90th percentiles (how much one calibration
set moves it), for the bundle's rule and for the normal plug-in rule it replaced, on young subjects calibrated by young
ones (exchangeable: the rule's own validity) and on a mix of both healthy groups.

Seeds: ``--tuning_seeds`` chose the rule; ``--held_out_seeds`` report it. Results go to
``bench/results/calibration_fpr.json``; fitted pools are kept in ``--work_dir`` and reused. On 2 CPU cores a seed
takes about 2 minutes to train and 5 to fit 300 subjects.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from common import RESULTS, machine_facts, write_result

LEVELS = (0.9, 0.95, 0.99)
USER_COUNTS = {"n_young": 24, "n_older": 24, "n_sarcopenic": 0}
POOL_SEED_OFFSET = 2000


def user_model(work: Path, seed: int) -> tuple[Path, Path]:
    """The user's cohort of ``seed`` and the model trained on it with the configs' defaults (reused when present)."""
    from power_runs import benchmark_cohort, train_member

    dataset = benchmark_cohort(work / "cohorts" / f"seed{seed}", seed, {})
    run_dir = work / "runs" / f"seed{seed}"
    train_member(dataset, run_dir, 0)
    return dataset, run_dir / "member0" / "models" / "model.pt"


def fitted_pool(work: Path, seed: int, model: Path, young: int, older: int) -> dict:
    """Every pool subject fitted like a new one: raw score rows, codes, deviation maps, flattening profiles."""
    cache = work / "pools" / f"seed{seed}_{young}_{older}.npz"
    if cache.is_file():
        saved = np.load(cache, allow_pickle=False)
        return {
            "rows": json.loads(str(saved["rows"])),
            **{k: saved[k] for k in ("codes", "maps", "profiles", "training_codes")},
        }
    from scripts.layout import cohort_datalist
    from scripts.study.workflows import parse_configs
    from scripts.synthetic.cohort import generate_cohort

    folder = work / "pools" / f"seed{seed}_{young}_{older}"
    if not Path(cohort_datalist(folder)).is_file():
        generate_cohort(folder, n_young=young, n_older=older, n_sarcopenic=0, seed=seed + POOL_SEED_OFFSET)
    parser = parse_configs(
        ["train.json", "calibrate.json"],
        dataset_dir=str(folder / "images"),
        source_ckpt=str(model),
        ckpt_dir=str(folder / "recalibrated"),
        output_dir=str(folder),
        mlflow_tracking=False,
    )
    parser.get_parsed_content("initialize")  # its expressions run as they are parsed: the source model is loaded
    evaluator = parser.get_parsed_content("validate#evaluator")
    collected = next(h for h in parser.get_parsed_content("validate#handlers") if hasattr(h, "profiles"))
    evaluator.run()
    groups = {s["id"]: s["group"] for s in json.loads(Path(cohort_datalist(folder)).read_text())["subjects"]}
    rows = [dict(r, group=groups[r["id"]]) for r in collected.rows]
    pool = {
        "rows": rows,
        "codes": np.stack([np.asarray(c).reshape(-1) for c in collected.codes]),
        "maps": np.stack(collected.maps),
        "profiles": np.stack(collected.profiles),
        "training_codes": np.asarray(parser.get_parsed_content("latent_table").vectors),
    }
    np.savez(cache, **{**pool, "rows": json.dumps(rows)})
    return pool


def draw_z(pool: dict, calibration: np.ndarray, judged: np.ndarray, decision: str = "combined") -> np.ndarray:
    """The decision score's z of the ``judged`` subjects against a reference calibrated on ``calibration``."""
    import torch

    from scripts.scoring.reference import HealthyReference

    reference = HealthyReference()
    reference.latent.fit(torch.from_numpy(pool["training_codes"]))
    pick = [int(i) for i in calibration]
    reference.calibrate_on(
        [pool["rows"][i] for i in pick],
        [torch.from_numpy(pool["codes"][i]) for i in pick],
        [pool["maps"][i] for i in pick],
        [pool["profiles"][i] for i in pick],
    )
    out = []
    for i in judged:
        row = pool["rows"][int(i)]
        assessed = reference.assess(row, torch.from_numpy(pool["codes"][i][None]), pool["maps"][i], pool["profiles"][i])
        out.append(assessed[f"{decision}_z"])
    return np.asarray(out, dtype=np.float64)


def false_positive_rates(pool: dict, members: np.ndarray, size: int, draws: int, seed: int) -> dict:
    """Observed false-positive rates of the bundle's rule and of the normal plug-in, per level, over draws of
    ``size`` calibration subjects from ``members`` (indices into the pool), the others judged."""
    from scripts.scoring.calibration import decision_threshold, normal_threshold

    rng = np.random.default_rng(seed)
    rates: dict[str, dict[str, list[float]]] = {"bundle": {}, "normal_plug_in": {}}
    for _ in range(draws):
        chosen = rng.choice(members, size, replace=False)
        judged = np.setdiff1d(members, chosen)
        z = draw_z(pool, chosen, judged)
        for level in LEVELS:
            for rule, cut in (
                ("bundle", decision_threshold(level, size)),
                ("normal_plug_in", normal_threshold(level)),
            ):
                rates[rule].setdefault(str(level), []).append(float(np.mean(z > cut)))
    summary = {}
    for rule, by_level in rates.items():
        summary[rule] = {
            level: {
                "nominal": round(1 - float(level), 4),
                "mean": float(np.mean(values)),
                "p10": float(np.percentile(values, 10)),
                "p90": float(np.percentile(values, 90)),
            }
            for level, values in by_level.items()
        }
    summary["judged_per_draw"] = int(len(members) - size)
    summary["draws"] = draws
    return summary


def run_seed(work: Path, seed: int, args) -> dict:
    _, model = user_model(work, seed)
    pool = fitted_pool(work, seed, model, args.pool, args.older)
    groups = np.array([r["group"] for r in pool["rows"]])
    young = np.flatnonzero(groups == "Y")
    result = {"young": false_positive_rates(pool, young, args.calibration, args.draws, seed)}
    if args.older:
        everyone = np.arange(len(groups))
        result["young_and_older"] = false_positive_rates(pool, everyone, args.calibration, args.draws, seed)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tuning_seeds", default="11")
    parser.add_argument("--held_out_seeds", default="12")
    parser.add_argument("--pool", type=int, default=240, help="young healthy subjects fitted per seed")
    parser.add_argument("--older", type=int, default=60, help="older healthy subjects fitted per seed")
    parser.add_argument("--calibration", type=int, default=10, help="calibration subjects per draw")
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--work_dir", type=Path, default=RESULTS / "calibration_fpr")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    facts = machine_facts()
    tuning = [int(s) for s in args.tuning_seeds.split(",") if s]
    held_out = [int(s) for s in args.held_out_seeds.split(",") if s]
    results = {f"seed{seed}": run_seed(args.work_dir, seed, args) for seed in tuning + held_out}
    from scripts.settings import bundle_version

    figures = {
        "bundle_version": bundle_version(),
        "tuning_seeds": tuning,
        "held_out_seeds": held_out,
        "calibration_subjects": args.calibration,
        "results": results,
    }
    write_result("calibration_fpr", figures, facts, args.output)


if __name__ == "__main__":
    main()
