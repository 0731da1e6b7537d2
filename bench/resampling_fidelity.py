"""Which interpolation keeps a binary mask faithful when the pipeline resamples it? Prints round-trip Dice.

For each subject: resample the input mask to the target spacing (``Spacingd`` with nearest-neighbour, or with
linear interpolation then a 0.5 threshold), map it back onto the input's own grid by nearest lookup in world
coordinates (exactly how points are labelled during sampling), and compare with the input (Dice).

    .venv/bin/python bench/resampling_fidelity.py [--dataset_dir DIR] [--subjects 12] [--targets 0.75,1.5]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bundle"))

from monai.transforms import AsDiscrete, EnsureChannelFirst, LoadImage, Spacing  # noqa: E402

from scripts.data.geometry import lookup_nearest, world_to_voxel  # noqa: E402
from scripts.engines.decoding import decode_dense  # noqa: E402

MODES = {"nearest": ("nearest", False), "linear+threshold": ("bilinear", True)}


def round_trip_dice(path: Path, target_mm: float, mode: str) -> float:
    image = EnsureChannelFirst()(LoadImage(image_only=True)(str(path)))
    interpolation, threshold = MODES[mode]
    resampled = Spacing(pixdim=(target_mm,) * 3, mode=interpolation)(image.float())
    if threshold:
        resampled = AsDiscrete(threshold=0.5)(resampled)
    mask = resampled[0].numpy() > 0.5

    def field(points):  # model frame = world frame here (centre 0, scale 1)
        return lookup_nearest(mask, world_to_voxel(points.astype(np.float64), resampled.affine))

    back, _ = decode_dense(field, image.shape[1:], image.affine, np.zeros(3), 1.0)
    original = image[0].numpy() > 0.5
    return float(2 * (back.astype(bool) & original).sum() / (back.sum() + original.sum()))


def compare(paths: list[Path], targets: list[float]) -> dict:
    results = {}
    for target in targets:
        for mode in MODES:
            dice = [round_trip_dice(p, target, mode) for p in paths]
            results[f"{mode}@{target}mm"] = {"mean": float(np.mean(dice)), "min": float(np.min(dice))}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset_dir", type=Path, default=None, help="a cohort folder (default: generate one)")
    parser.add_argument("--subjects", type=int, default=12)
    parser.add_argument("--targets", default="0.75,1.5")
    parser.add_argument("--output", type=Path, default=Path("bench/results/resampling_fidelity.json"))
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    dataset = args.dataset_dir
    if dataset is None:
        from scripts.layout import cohort_datalist
        from scripts.synthetic.cohort import generate_cohort

        dataset = Path("bench/results/resampling_cohort")
        if not Path(cohort_datalist(dataset)).exists():
            generate_cohort(dataset, spacing=(0.5, 0.5, 2.0), progress=False)
    paths = sorted((dataset / "images").iterdir())[: args.subjects]
    results = compare(paths, [float(t) for t in args.targets.split(",")])
    for name, figures in results.items():
        print(f"{name:28s} round-trip Dice mean {figures['mean']:.4f}  min {figures['min']:.4f}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"dataset": str(dataset), "subjects": len(paths), "results": results}, indent=2))
    print(f"written {args.output}")


if __name__ == "__main__":
    main()
