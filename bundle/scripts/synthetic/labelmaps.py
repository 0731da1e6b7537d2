"""One synthetic subject's labelmap: the muscle drawn from its shape with segmentation realism, on a world grid, with
its neighbours in a multi-label map, stored in any axis order."""

from __future__ import annotations

import numpy as np
from nibabel import orientations

from . import phantoms
from .realism import SUBSLICES_PER_SLAB, SegmentationRealism, SliceJitter, fov_window, slab_offsets, smooth_outline


def reorient(mask: np.ndarray, affine: np.ndarray, axcodes: str) -> tuple[np.ndarray, np.ndarray]:
    """Store an RAS-aligned array in another axis order/direction, keeping the same world geometry."""
    transform = orientations.ornt_transform(orientations.axcodes2ornt("RAS"), orientations.axcodes2ornt(axcodes))
    return (
        np.ascontiguousarray(orientations.apply_orientation(mask, transform)),
        affine @ orientations.inv_ornt_aff(transform, mask.shape),
    )


def make_labelmap(
    shape: phantoms.MuscleShape,
    spacing,
    margin_mm: float,
    multilabel: bool,
    muscle_label: int,
    realism: SegmentationRealism | None = None,
    rng: np.random.Generator | None = None,
    offset_mm: float = 0.0,
    grid_shift_mm=None,
):
    """Labelmap of one subject on an RAS grid: the muscle as ``muscle_label``, optionally two neighbours.

    With ``realism``, the muscle is segmented as a rater would (see ``realism``): thick slices replace the last
    spacing by the slice thickness, and a cut field of view crops the grid along the long axis. ``offset_mm`` is
    the rater's contour offset drawn for this subject (``SegmentationRealism.rater_offset``); the grid grows by it.
    ``grid_shift_mm`` moves the voxel grid against the muscle (three mm): other slice positions, as in a re-scan.
    """
    realism = realism or SegmentationRealism()
    rng = rng if rng is not None else np.random.default_rng(0)
    thickness = realism.slice_thickness_mm
    spacing = (float(spacing[0]), float(spacing[1]), thickness or float(spacing[2]))
    extension = phantoms.NEIGHBOUR_EXTENT_MM if multilabel else 0.0
    margin_mm = margin_mm + max(offset_mm, 0.0)
    grid, affine = phantoms.world_grid(shape, spacing, margin_mm, posterior_extension_mm=extension)
    if grid_shift_mm is not None:
        grid = grid + np.asarray(grid_shift_mm, dtype=float)
        affine[:3, 3] += np.asarray(grid_shift_mm, dtype=float)
    contour = None
    if realism.contour_jitter > 0:
        jitter = SliceJitter(grid.shape[2], realism.contour_jitter, rng)
        slices = np.arange(grid.shape[2])[None, None, :]

        def contour(phi: np.ndarray) -> np.ndarray:
            return jitter.limit_change(slices, phi)

    if thickness > 0:  # partial volume of each thick slice: the muscle's share of the slab, thresholded at half
        share = sum(
            phantoms.inside(shape, grid + [0.0, 0.0, dz], contour, offset_mm).astype(np.float32)
            for dz in slab_offsets(thickness)
        )
        muscle = share / SUBSLICES_PER_SLAB >= 0.5
    else:
        muscle = phantoms.inside(shape, grid, contour, offset_mm)
    muscle = smooth_outline(muscle, spacing, realism.rater_smoothing_mm)
    labelmap = np.zeros(muscle.shape, dtype=np.uint8)
    if multilabel:
        deep, femur = phantoms.neighbour_structures(shape, grid)
        other_labels = [value for value in range(1, 4) if value != muscle_label]
        labelmap[deep] = other_labels[0]
        labelmap[femur] = other_labels[1]
    labelmap[muscle] = muscle_label
    first, last = fov_window(muscle, realism.fov_cut, rng)
    affine = affine.copy()
    affine[:3, 3] += affine[:3, 2] * first
    return labelmap[..., first:last], muscle[..., first:last], affine
