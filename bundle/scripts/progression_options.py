"""The two-visit commands' options: ``python -m scripts progression --help`` and ``python -m scripts visits --help``."""

from __future__ import annotations

import argparse
from pathlib import Path

from .arguments import CommandLineError, literal
from .synthetic.shape import DISEASES


def add_progression_commands(commands, model: Path) -> None:
    """Add ``progression`` (score pairs, or learn the change calibration) and ``visits`` (generate pairs)."""
    progression = commands.add_parser(
        "progression",
        help="what changed between two visits of each subject, and whether beyond test-retest noise",
        description="Score both visits of each pair and write the change of every score, the code's displacement, "
        "a change map per pair and the decision; with --calibrate_change, learn the test-retest noise from stable "
        "pairs of healthy subjects and write the model with it to --output_model. Any other --<config id> <value> "
        "applies to the scoring of the visits (configs/inference.json), e.g. --fit_iterations 200.",
    )
    add = progression.add_argument
    add("--ckpt_path", default=str(model))
    add("--dataset_dir", default=None, help="a folder whose datalist.json gives subjects a 'subject' and a 'visit'")
    add("--pairs", type=literal, default=None, help="two files per pair, e.g. [['a_v0.nii.gz','a_v1.nii.gz']]")
    add("--output_dir", default=None)
    add("--change_score", default="combined_change", help="the change that decides (default combined_change)")
    add("--calibrate_change", action="store_true", help="learn the change calibration from --dataset_dir's pairs")
    add("--output_model", default=None, help="with --calibrate_change: the model file written with it")

    visits = commands.add_parser("visits", help="generate synthetic visit pairs (stable and progressing)")
    add = visits.add_argument
    add("--output_dir", required=True)
    add("--n_stable", type=int, default=10)
    add("--n_progressing", type=int, default=10)
    add("--step", type=float, default=0.2, help="growth of the disease's strength between the visits")
    add("--max_base_strength", type=float, default=0.4)
    add("--disease", choices=DISEASES, default=DISEASES[0])
    add("--spacing", type=literal, default=(1.0, 1.0, 1.0))
    add("--seed", type=int, default=0)
    add("--max_rotation_deg", type=float, default=2.0)
    add("--contour_jitter", type=float, default=0.0)
    add("--rater_bias_mm", type=float, default=0.0)


def run_progression_command(args: argparse.Namespace, overrides: dict) -> str:
    """Run ``progression`` or ``visits``; returns the path of what it wrote. ``overrides``: other ``--<config id>``
    values, applied to the scoring of the visits (``configs/inference.json``)."""
    if args.command == "visits":
        from .synthetic.visits import generate_visit_pairs

        options = {k: v for k, v in vars(args).items() if k != "command"}
        try:
            return str(generate_visit_pairs(**{**options, "spacing": tuple(float(s) for s in options["spacing"])}))
        except (TypeError, ValueError) as error:
            raise CommandLineError(str(error)) from None
    from .change_calibration import calibrate_change
    from .progression import run_progression

    if args.calibrate_change:
        if args.dataset_dir is None or args.output_model is None:
            raise CommandLineError("--calibrate_change needs --dataset_dir (stable pairs) and --output_model")
        return str(calibrate_change(args.ckpt_path, args.dataset_dir, args.output_model, **overrides))
    if args.output_dir is None:
        raise CommandLineError("--output_dir: where the pairs' changes are written")
    run = run_progression(args.ckpt_path, args.output_dir, args.dataset_dir, args.pairs, args.change_score, **overrides)
    return str(run)
