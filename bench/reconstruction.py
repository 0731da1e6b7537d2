"""Decoder queries and memory of reconstruction: coarse-to-fine against dense evaluation on large output grids.

The shape is the shipped model's mean training code (a typical healthy muscle). Its bounding box (found on a 2 mm
grid) plus a margin is covered by a cubic output grid of ``--grid`` voxels per side, so a 256^3 grid has about
0.6 mm voxels. For that grid both decoders run and are compared (queries, seconds, Dice of the two labelmaps);
then coarse-to-fine decoding of a ``--large`` grid (512^3) runs in a fresh process whose peak RSS is reported,
next to the peak RSS of the same process when it stops just before decoding (imports and model only).

    .venv/bin/python bench/reconstruction.py [--grid 256] [--large 512]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
from common import BUNDLE, machine_facts, peak_rss_mb, write_result

from scripts.checkpoints import load_checkpoint
from scripts.engines.decoding import decode_coarse_to_fine, decode_dense
from scripts.networks.auto_decoder import LatentTable
from scripts.networks.decoder import OccupancyDecoder
from scripts.transforms.postprocessing import DecodeLatentd

COORDINATE_SCALE = 0.02  # the configs' coordinate_scale, the shipped model's frame


def mean_shape_field():
    state = load_checkpoint(BUNDLE / "models" / "model.pt", map_location="cpu")
    decoder = OccupancyDecoder()
    decoder.load_state_dict(state["network_def"])
    decoder.eval()
    code = LatentTable.from_state_dict(state["latent_table"]).vectors.mean(dim=0)
    transform = DecodeLatentd("pred", decoder, COORDINATE_SCALE)  # its field and chunk size, as inference uses them
    return transform.field(code), transform.chunk_size


def covering_grid(field, chunk: int, size: int, margin_mm: float = 4.0) -> tuple[tuple[int, int, int], np.ndarray]:
    """A cubic grid of ``size``^3 isotropic voxels around the shape (model frame centred on the origin)."""
    probe = 2.0 * np.eye(4)
    probe[:3, 3], probe[3, 3] = -150.0, 1.0
    mask, _ = decode_coarse_to_fine(field, (151, 151, 151), probe, np.zeros(3), COORDINATE_SCALE, chunk_size=chunk)
    inside = np.argwhere(mask) * 2.0 - 150.0
    low, high = inside.min(axis=0) - margin_mm, inside.max(axis=0) + margin_mm
    spacing = float((high - low).max() / (size - 1))
    affine = np.diag([spacing, spacing, spacing, 1.0])
    affine[:3, 3] = (low + high) / 2 - spacing * (size - 1) / 2
    return (size, size, size), affine


def compare(size: int, coarse_mm: float) -> dict:
    field, chunk = mean_shape_field()
    shape, affine = covering_grid(field, chunk, size)
    start = time.perf_counter()
    fine, fine_queries = decode_coarse_to_fine(field, shape, affine, np.zeros(3), COORDINATE_SCALE, coarse_mm, chunk)
    fine_s = time.perf_counter() - start
    start = time.perf_counter()
    dense, dense_queries = decode_dense(field, shape, affine, np.zeros(3), COORDINATE_SCALE, chunk)
    dense_s = time.perf_counter() - start
    overlap = 2 * np.logical_and(fine, dense).sum() / (fine.sum() + dense.sum())
    return {
        "grid": list(shape),
        "spacing_mm": float(affine[0, 0]),
        "coarse_mm": coarse_mm,
        "dense_queries": dense_queries,
        "coarse_to_fine_queries": fine_queries,
        "query_fraction": fine_queries / dense_queries,
        "dense_s": dense_s,
        "coarse_to_fine_s": fine_s,
        "dice_coarse_to_fine_vs_dense": float(overlap),
        "identical_voxels_fraction": float((fine == dense).mean()),
    }


def memory_child(size: int, coarse_mm: float, decode: bool) -> None:
    """Run in a fresh process: prints its peak RSS after (optionally) decoding a ``size``^3 grid."""
    field, chunk = mean_shape_field()
    shape, affine = covering_grid(field, chunk, size)
    queries = 0
    if decode:
        labels, queries = decode_coarse_to_fine(field, shape, affine, np.zeros(3), COORDINATE_SCALE, coarse_mm, chunk)
        assert labels.shape == shape and labels.any()
    print(json.dumps({"peak_rss_mb": peak_rss_mb(), "queries": queries}))


def measure_memory(size: int, coarse_mm: float) -> dict:
    figures = {}
    for decode in (False, True):
        command = [sys.executable, __file__, "--child", str(size), "--coarse_mm", str(coarse_mm)]
        command += [] if decode else ["--no-decode"]
        start = time.perf_counter()
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        key = "decode" if decode else "baseline"
        figures[f"{key}_peak_rss_mb"] = json.loads(output)["peak_rss_mb"]
        figures[f"{key}_s"] = time.perf_counter() - start
        if decode:
            figures["queries"] = json.loads(output)["queries"]
    figures["grid"] = [size] * 3
    figures["decode_extra_mb"] = figures["decode_peak_rss_mb"] - figures["baseline_peak_rss_mb"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", type=int, default=256)
    parser.add_argument("--large", type=int, default=512)
    parser.add_argument("--coarse_mm", type=float, default=4.0, help="the configs' coarse_mm")
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--no-decode", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        memory_child(args.child, args.coarse_mm, not args.no_decode)
        return
    facts = machine_facts()
    figures = {"comparison": compare(args.grid, args.coarse_mm), "memory": measure_memory(args.large, args.coarse_mm)}
    write_result("reconstruction", figures, facts)


if __name__ == "__main__":
    main()
