"""How well does a trained model reproduce its own training shapes? Dice of each training subject's learned code.

No fitting: each training subject's code is taken from the checkpoint's latent table (matched by case id), decoded
onto the subject's own grid exactly as inference decodes a fitted code (``inference.json``'s preprocessing and
``DecodeLatentd``), and compared with its labelmap. A low figure means the model underfits the healthy shapes it
was trained on, whatever the anomaly scores say.

    .venv/bin/python bench/training_fidelity.py [--ckpt_path bundle/models/model.pt] [--fold 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from common import BUNDLE, bundle_config, demo_cohort, machine_facts, write_result

from scripts.checkpoints import load_checkpoint
from scripts.data.datalist import load_split
from scripts.layout import cohort_datalist
from scripts.networks.auto_decoder import LatentTable
from scripts.scoring.metrics import reconstruction_metrics
from scripts.transforms.postprocessing import DecodeLatentd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt_path", type=Path, default=BUNDLE / "models" / "model.pt")
    parser.add_argument("--dataset_dir", type=Path, default=None, help="a cohort folder (default: the demo cohort)")
    parser.add_argument("--fold", type=int, default=0)
    args = parser.parse_args()
    facts = machine_facts()
    cohort = args.dataset_dir or demo_cohort()

    config = bundle_config("inference", dataset_dir=str(cohort), ckpt_path=str(args.ckpt_path))
    preprocessing = config.get_parsed_content("preprocessing")
    decoder = config.get_parsed_content("network_def")
    state = load_checkpoint(args.ckpt_path, map_location="cpu")
    decoder.load_state_dict(state["network_def"])
    decoder.eval()
    table = LatentTable.from_state_dict(state["latent_table"])
    codes = table.vectors
    row_of = {case: row for row, case in enumerate(table.case_ids)}
    decode = DecodeLatentd(
        "code",
        decoder,
        config.get_parsed_content("settings")["coordinate_scale"],
        reference_key="label",
        coarse_mm=config.get_parsed_content("coarse_mm"),
    )

    dice = {}
    for item in load_split(cohort_datalist(cohort), args.fold, "train"):
        data = preprocessing(dict(item))
        data["code"] = codes[row_of[item["id"]]]
        data = decode(data)
        dice[item["id"]] = reconstruction_metrics(data["label"][0], data["recon"][0], data["label"].affine)["dice"]
        print(f"  {item['id']}: Dice {dice[item['id']]:.4f}", flush=True)
    values = np.array(list(dice.values()))
    figures = {
        "checkpoint": str(args.ckpt_path),
        "fold": args.fold,
        "subjects": len(values),
        "mean_dice": float(values.mean()),
        "min_dice": float(values.min()),
        "per_subject": dice,
    }
    write_result("training_fidelity", figures, facts)


if __name__ == "__main__":
    main()
