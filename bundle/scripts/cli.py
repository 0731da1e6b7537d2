"""Command line for the tasks that are not a single bundle config: ``python -m scripts <command> --help``.

Every command prints its help with ``--help``, refuses an unknown option or a bad value with one line and exit code
2, and checks its inputs as the workflows do (an unusable datalist or cohort ends with one line naming the file).
``study`` also takes any config id of the bundle as ``--<id> <value>`` (``--fit_iterations 200``,
``--network_def#hidden_dim 64``) and applies it to every fold; ids that no config declares are refused.
"""

from __future__ import annotations

import argparse
import logging
import logging.config
import sys
from pathlib import Path

from .arguments import CommandLineError, config_overrides, demo_bf16, fold_list, literal, positive
from .layout import config_file, demo_dir, model_file, models_dir, study_dir
from .progression_options import add_progression_commands, run_progression_command
from .synthetic.options import add_phantoms_command

DEMO_DIR = Path(demo_dir())
DEFAULT_STUDY_DIR = Path(study_dir())


def _setup() -> None:
    from .runtime import prepare_process

    prepare_process()
    logging.config.fileConfig(config_file("logging.conf"), disable_existing_loggers=False)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts", description=__doc__.split("\n\n")[0])
    names = "{phantoms,study,report,demo,ensemble,progression,visits}"
    commands = parser.add_subparsers(dest="command", required=True, metavar=names)

    add_phantoms_command(commands, DEMO_DIR)
    add_progression_commands(commands, Path(model_file(models_dir())))

    study = commands.add_parser(
        "study",
        help="cross-validation study: train and score every fold, then the report",
        description="Train on each fold's healthy subjects, score its test subjects, then write the report. Any "
        "other --<config id> <value> applies to every fold.",
    )
    study.add_argument("--dataset_dir", default=str(DEMO_DIR))
    study.add_argument("--output_dir", default=str(DEFAULT_STUDY_DIR))
    study.add_argument("--folds", type=fold_list, default=None, help="only these folds, e.g. [3] (one job per fold)")
    study.add_argument("--parallel", type=positive(int), default=1, help="folds run at once on this machine")
    study.add_argument("--epochs", type=positive(int), default=None)
    study.add_argument("--tracking_uri", default=None, help="an MLflow server shared by every job, e.g. http://...")
    study.add_argument("--no_report", action="store_true", help="score the folds only (jobs of a larger study)")

    report = commands.add_parser("report", help="assemble the study report from the folds already scored")
    report.add_argument("--dataset_dir", default=str(DEMO_DIR))
    report.add_argument("--output_dir", default=str(DEFAULT_STUDY_DIR))
    report.add_argument("--tracking_uri", default=None)

    ensemble = commands.add_parser(
        "ensemble",
        help="one ensemble model from members trained separately, calibrated on healthy subjects",
        description="Assemble the member models (trained on the same healthy subjects with different --seed) into "
        "one model file, then calibrate it on the healthy subjects of --dataset_dir (a cohort folder: its fold's "
        "validation subjects; any other folder: every labelmap in it).",
    )
    ensemble.add_argument(
        "--members", type=literal, required=True, help="the members' model files, e.g. ['a.pt','b.pt']"
    )
    ensemble.add_argument("--dataset_dir", required=True)
    ensemble.add_argument("--ckpt_dir", required=True, help="where the ensemble's model.pt is written")
    ensemble.add_argument("--fold", type=int, default=0)

    demo = commands.add_parser("demo", help="the quick start's main job: the study on the demo cohort")
    demo.add_argument("--output_dir", default=str(DEFAULT_STUDY_DIR))
    demo.add_argument("--parallel", type=positive(int), default=1)
    demo.add_argument(
        "--bf16",
        choices=("auto", "true", "false"),
        default="auto",
        help="train and score under bfloat16 autocast; auto: where this CPU runs it faster (scripts.precision)",
    )
    return parser


def run(argv: list[str]) -> str:
    """Run one command; returns what it prints (the path of what it made)."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command not in ("study", "progression"):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    overrides = config_overrides(extra) if args.command in ("study", "progression") else {}
    _setup()
    if args.command == "phantoms":
        from .synthetic.cohort import generate_cohort

        options = vars(args)
        options.pop("command")
        spacing = options.pop("spacing")
        if not isinstance(spacing, (list, tuple)) or len(spacing) != 3:
            raise CommandLineError(f"--spacing expects three numbers such as [1,1,1], got {spacing!r}")
        try:
            path = generate_cohort(options.pop("output_dir"), spacing=tuple(float(s) for s in spacing), **options)
        except ValueError as error:  # an impossible cohort (format, counts, strengths)
            raise CommandLineError(str(error)) from None
        return str(path)
    if args.command in ("progression", "visits"):
        return run_progression_command(args, overrides)
    if args.command == "ensemble":
        from .assemble import build_ensemble

        if not isinstance(args.members, (list, tuple)) or not all(isinstance(m, str) for m in args.members):
            raise CommandLineError(
                f"--members expects a list of model files such as ['a.pt','b.pt'], got {args.members!r}"
            )
        return str(build_ensemble(args.members, args.dataset_dir, args.ckpt_dir, args.fold))
    from .study.runner import build_study_report, run_study

    if args.command == "study":
        if args.epochs is not None:
            overrides.update(epochs=args.epochs, val_interval=overrides.get("val_interval", args.epochs))
        return str(
            run_study(
                args.dataset_dir,
                args.output_dir,
                folds=args.folds,
                parallel=args.parallel,
                overrides=overrides,
                tracking_uri=args.tracking_uri,
                report=not args.no_report,
            )
        )
    if args.command == "report":
        return str(build_study_report(args.dataset_dir, args.output_dir, tracking_uri=args.tracking_uri))
    from .synthetic.cohort import ensure_demo_cohort

    ensure_demo_cohort(DEMO_DIR)
    report = run_study(str(DEMO_DIR), args.output_dir, parallel=args.parallel, overrides={"bf16": demo_bf16(args.bf16)})
    logging.getLogger(__name__).info("demo finished; open %s", report)
    return str(report)


def main(argv: list[str] | None = None) -> None:
    from .errors import find_input_error

    try:
        print(run(sys.argv[1:] if argv is None else argv))
    except CommandLineError as error:
        print(f"python -m scripts: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except Exception as error:
        found = find_input_error(error)
        if found is None:
            raise
        print(f"\nerror: {found}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
