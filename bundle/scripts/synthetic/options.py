"""The ``phantoms`` command's options (``python -m scripts phantoms --help``), kept beside the generator they set."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..arguments import literal
from .shape import DISEASES, HEALTHY_MODELS


def add_phantoms_command(commands, output_dir: Path) -> argparse.ArgumentParser:
    """Add ``phantoms`` to the sub-commands ``commands``; every option is a ``generate_cohort`` argument."""
    phantoms = commands.add_parser("phantoms", help="generate a synthetic cohort (labelmaps, datalist, truth)")
    add = phantoms.add_argument
    add("--output_dir", default=str(output_dir))
    for group, default in (("n_young", 24), ("n_older", 24), ("n_sarcopenic", 16)):
        add(f"--{group}", type=int, default=default)
    add("--spacing", type=literal, default=(1.0, 1.0, 1.0), help="voxel size in mm, e.g. [0.5,0.5,2]")
    add("--image_format", default="nii.gz", help="nii.gz, nii, nrrd or mha")
    add("--seed", type=int, default=0)
    add("--strength", type=float, default=1.0, help="scale of the sarcopenic shape change (1 clear, 0.4 mild, <= 2)")
    add("--margin_mm", type=float, default=8.0)
    add("--max_rotation_deg", type=float, default=4.0)
    add("--multilabel", type=literal, default=False)
    add("--muscle_label", type=int, default=1)
    add("--axcodes", default="RAS")
    add("--num_folds", type=int, default=5)
    add("--disease", choices=DISEASES, default=DISEASES[0], help="the OS group's shape change (default: flattening)")
    add("--healthy_model", choices=HEALTHY_MODELS, default=HEALTHY_MODELS[0], help="how muscles vary (default spindle)")
    add("--contour_jitter", type=float, default=0.0, help="slice-wise contour error, e.g. 0.04")
    add("--fov_cut", type=float, default=0.0, help="largest fraction cut off at each end")
    add("--slice_thickness_mm", type=float, default=0.0, help="thick slices along the long axis")
    add("--rater_bias_mm", type=float, default=0.0, help="contours this far outside (+) or inside (-), mm x U(0.5,1.5)")
    add("--rater_smoothing_mm", type=float, default=0.0, help="sigma (mm) of the Gaussian rounding the rater's outline")
    return phantoms
