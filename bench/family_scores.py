"""The figures of ``families.py``: each INR score against its INR-free twin, family by family, and the choice of a
decision score that holds across families, made leaving the family out.

Per family the comparison is on the same subjects: the 100 healthy test subjects and the family's 100 sarcopenic ones.
Paired DeLong tests: each INR score against its twin (the same knowledge without the network), and the decision score
against the best of every INR-free score (the shape models, the twins, volume; the best chosen on the test subjects
themselves, the most favourable choice for the baselines). The abnormal axis from ``LABELLED`` cases of the family is
learned on INR codes and, as its twin, on the shape model's coefficients.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

# INR score -> its INR-free twins (the same knowledge: a restored shape, or the healthy population)
TWINS = {
    "regional_flattening_z": ("twin_ssm_flattening", "twin_flattening"),
    "regional_atrophy_z": ("twin_ssm_atrophy",),
    "combined_z": ("twin_combined",),
}
INR_FREE = (
    "volume_score",
    "ssm_recon_score",
    "ssm_mahalanobis",
    "sdf_mahalanobis",
    "sdf_residual",
    "sdf_surface_rms_mm",
    "twin_flattening",
    "twin_ssm_flattening",
    "twin_ssm_atrophy",
    "twin_combined",
)
# calibrated INR scores a decision score may combine (each a z-score against the model's healthy reference)
MEMBERS = (
    "regional_atrophy_z",
    "regional_flattening_z",
    "latent_distance_z",
    "normative_score_z",
    "recon_score_z",
    "missing_fraction_z",
)
Z_CAP = 50.0


def candidates(table: pd.DataFrame, sizes=(1, 2, 3)) -> dict[str, np.ndarray]:
    """Every mean of capped z-scores of 1 to 3 ``MEMBERS``: the decision scores the choice may make."""
    out = {}
    for size in sizes:
        for combo in itertools.combinations(MEMBERS, size):
            values = np.mean([np.minimum(table[m].to_numpy(dtype=float), Z_CAP) for m in combo], axis=0)
            out["+".join(m[:-2] for m in combo)] = values
    return out


def auc(labels, values) -> float:
    from scripts.scoring.statistics import roc

    return roc(labels, values)[2]


def family_figures(table: pd.DataFrame) -> dict:
    """AUCs of every score on one family's table (``positive``: 1 sarcopenic), each INR score against its twins and
    the decision score against the best INR-free score, with paired DeLong tests."""
    from scripts.scoring.delong import delong_test
    from scripts.scoring.statistics import auc_with_ci

    labels = table["positive"].to_numpy()
    columns = [c for c in (*MEMBERS, "combined_z", "axis_score", "ssm_axis_score", *INR_FREE) if c in table]
    scores = {c: auc_with_ci(labels, table[c].to_numpy(dtype=float), n_boot=500) for c in columns}
    versus = {}
    for inr, twins in TWINS.items():
        for twin in twins:
            test = delong_test(labels, table[inr].to_numpy(dtype=float), table[twin].to_numpy(dtype=float))
            versus[f"{inr[:-2]}_vs_{twin}"] = {"difference": test["difference"], "p_value": test["p_value"]}
    best = max((c for c in INR_FREE if c in scores), key=lambda c: scores[c]["auc"])
    test = delong_test(labels, table["combined_z"].to_numpy(dtype=float), table[best].to_numpy(dtype=float))
    versus["combined_vs_best_inr_free"] = {"best": best, "difference": test["difference"], "p_value": test["p_value"]}
    if "axis_score" in table and "ssm_axis_score" in table:
        test = delong_test(labels, table["axis_score"].to_numpy(float), table["ssm_axis_score"].to_numpy(float))
        versus["axis_vs_ssm_axis"] = {"difference": test["difference"], "p_value": test["p_value"]}
    return {"scores": {c: round(v["auc"], 4) for c, v in scores.items()}, "intervals": scores, "versus": versus}


def leave_one_family_out(tuning: dict[str, pd.DataFrame], held_out: dict[str, pd.DataFrame]) -> dict:
    """For each family F: the candidate decision score with the best mean AUC over the *other* families of the tuning
    tables, and its AUC on F in the held-out tables beside the best INR-free score there (paired DeLong); and the one
    candidate chosen on every tuning family, which the bundle would ship, on every held-out family."""
    from scripts.scoring.delong import delong_test

    tuned = {family: {k: auc(t["positive"], v) for k, v in candidates(t).items()} for family, t in tuning.items()}
    names = list(next(iter(tuned.values())))
    out = {}
    for family, table in held_out.items():
        others = [f for f in tuned if f != family]
        chosen = max(names, key=lambda n: np.mean([tuned[f][n] for f in others]))
        values = candidates(table)[chosen]
        labels = table["positive"].to_numpy()
        best = max((c for c in INR_FREE if c in table), key=lambda c: auc(labels, table[c].to_numpy(dtype=float)))
        test = delong_test(labels, values, table[best].to_numpy(dtype=float))
        out[family] = {"chosen": chosen, "auc": auc(labels, values), "best_inr_free": best, **test}
    overall = max(names, key=lambda n: np.mean([tuned[f][n] for f in tuned]))
    out["chosen_on_all_tuning_families"] = {
        "candidate": overall,
        "tuning_mean_auc": float(np.mean([tuned[f][overall] for f in tuned])),
        "held_out": {f: auc(t["positive"], candidates(t)[overall]) for f, t in held_out.items()},
    }
    return out


def inr_axis_scores(inr: pd.DataFrame, family: str) -> pd.Series:
    """The test subjects on the abnormal axis learned, as training learns it, from the codes of the user's 48 healthy
    subjects and the family's ``LABELLED`` cases, all fitted like new subjects (``AbnormalAxis``, mean difference)."""
    from scripts.scoring.axis import AbnormalAxis

    healthy = inr[inr["role"].isin(["train", "val"])]
    labelled = inr[(inr["role"] == "labelled") & (inr["disease"] == family)]
    test = inr[inr["role"] == "test"]
    axis = AbnormalAxis()
    axis.learn(np.stack(healthy["code"]), np.stack(labelled["code"]))
    return pd.Series(axis.score(np.stack(test["code"])), index=test["id"].to_numpy())
