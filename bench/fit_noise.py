"""How much of a score's test-retest noise is the fit's own: the same files fitted twice, against two visits.

With the shipped model: ``--pairs`` stable pairs of healthy subjects (``--seed``, the two-visit benchmark's noise) are
scored twice, the second time with another ``--fit_seed`` (the fit's sample points and its order of steps drawn
anew; nothing else changes). Per score: the fit's noise (the SD of the same file's two fits, per fit: the difference
over sqrt 2), the within-subject SD of the two visits (first scoring), their ratio squared (the share of the
test-retest variance the fit alone makes) and the ICC(3,1) of the pairs.

    .venv/bin/python bench/fit_noise.py [--pairs 20] [--seed 40] [--summary bench/summaries/fit_noise.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from common import BUNDLE, RESULTS, machine_facts, write_result
from progression import NOISE

from scripts.data.visits import datalist_pairs
from scripts.layout import cohort_datalist, model_file
from scripts.progression import score_visits, visit_files
from scripts.scoring.reliability import reliability_table
from scripts.synthetic.visits import generate_visit_pairs

NAMES = ("combined", "latent_distance", "regional_flattening", "regional_atrophy", "recon_score", "asd_mm")


def _scores(pairs, files) -> dict[str, dict]:
    ids = [str(v["id"]) for p in pairs for v in (p.first, p.second)]
    return {i: json.loads(files.scores(i).read_text()) for i in ids}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=40, help="the visit pairs' generator seed")
    parser.add_argument("--fit_seed", type=int, default=7, help="the second scoring's seed (the first: the config's)")
    parser.add_argument("--summary", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    facts, work = machine_facts(), RESULTS / "fit_noise"
    cohort = work / f"pairs_seed{args.seed}"
    generate_visit_pairs(cohort, args.pairs, 0, seed=args.seed, **NOISE)
    pairs, model = datalist_pairs(cohort_datalist(cohort)), str(model_file(BUNDLE / "models"))
    started = time.perf_counter()
    score_visits(pairs, model, work / "first")
    score_visits(pairs, model, work / "again", seed=args.fit_seed)
    first, again = _scores(pairs, visit_files(work / "first", {})), _scores(pairs, visit_files(work / "again", {}))
    visits = ([first[str(getattr(p, k)["id"])] for p in pairs] for k in ("first", "second"))
    reliability = reliability_table(*visits, NAMES)
    figures = {"pairs": len(pairs), "seed": args.seed, "fit_seed": args.fit_seed, "noise": NOISE, "scores": {}}
    for name in NAMES:
        fit_sd = float(np.std([(first[i][name] - again[i][name]) / np.sqrt(2) for i in first], ddof=0))
        pair_sd = reliability[name]["within_subject_sd"]
        figures["scores"][name] = {
            "fit_sd": fit_sd, "within_subject_sd": pair_sd, "fit_share_of_variance": (fit_sd / pair_sd) ** 2,
            "icc_3_1": reliability[name]["icc_3_1"],
        }  # fmt: skip
    figures["seconds"] = time.perf_counter() - started
    print(json.dumps(figures["scores"], indent=1))
    write_result("fit_noise", figures, facts)
    if args.summary:
        Path(args.summary).write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
