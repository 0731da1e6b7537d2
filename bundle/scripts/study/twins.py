"""Classical twins of the INR's regional scores: what a network-free pipeline that knows the same things gives.

Each twin is measured and normed exactly as the bundle's score it mirrors (``transforms.postprocessing.ScoreSubjectd``
and ``scoring.reference``), with the INR's restored normal shape replaced by the signed-distance shape model's
(``shape_model``) or by no restored shape at all:

- ``twin_flattening``: each section's log aspect in the input's own principal frame against healthy subjects' aspects
  (the healthy population as the reference, with no restored shape);
- ``twin_ssm_flattening``: the input's flattening profile against its shape-model restoration (``regional_flattening``);
- ``twin_ssm_atrophy``: the input's sub-voxel surface against its restoration, cell by cell of the deviation map in
  the restoration's frame (``regional_atrophy``);
- ``twin_combined``: the mean z-score of the two restored-shape twins against healthy subjects (``combined``).

A healthy training subject's map and profile come from a model fitted without it, so that the healthy norms are out
of sample as a new subject's measures are; each one's own twin scores, for ``twin_combined``, come from norms fitted on
the others, as ``HealthyReference.calibrate_on`` does. ``coefficient_axis`` mirrors the abnormal axis on INR codes.
"""

from __future__ import annotations

import numpy as np

from ..data.geometry import crop_around, voxel_spacing
from ..scoring.axis import AbnormalAxis
from ..scoring.calibration import ScoreCalibration
from ..scoring.deviation import SURFACE_SMOOTHING_MM, ShapeFrame, SurfaceDeviation, vertex_deviation
from ..scoring.norms import RegionalNorm
from ..scoring.reference import FLATTENING_TOP_K, MAP_SCALE_FLOOR, PROFILE_SCALE_FLOOR, REGIONAL_TOP_K
from ..scoring.sections import flattening_profile
from .shape_model import VARIANCE, ShapeModel, SubjectShape

SSM_MEMBERS = ("twin_ssm_atrophy", "twin_ssm_flattening")


def restored_measures(subject: SubjectShape, field: np.ndarray) -> tuple[SurfaceDeviation, np.ndarray]:
    """The subject's surface deviation from the shape its aligned ``field`` restores, and its flattening profile,
    measured as ``ScoreSubjectd`` measures the INR's reconstruction (box around both, sub-voxel surfaces)."""
    mask, restored = subject.mask, subject.restore(field)
    margin = 2 + int(np.ceil(4 * SURFACE_SMOOTHING_MM / voxel_spacing(subject.affine).min()))
    (mask, restored), affine = crop_around([mask, restored], subject.affine, margin)
    surface, deviation = vertex_deviation(mask, restored, affine, smooth_mm=SURFACE_SMOOTHING_MM)
    frame = ShapeFrame.of_mask(restored if restored.any() else mask, affine)
    return SurfaceDeviation(surface, deviation, frame), flattening_profile(mask, restored, affine, frame)


def _norm(prefix: str, floor: float, samples) -> RegionalNorm:
    norm = RegionalNorm(prefix, floor)
    norm.fit(samples)
    return norm


def fields_of(subjects: list[SubjectShape]) -> np.ndarray:
    """The subjects' aligned signed distance fields, stacked ``[n, *GRID_SHAPE]``."""
    return np.stack([s.sdf for s in subjects])


class TwinScorer:
    """The shape model of a fold's healthy training subjects, the healthy norms of the twins, and the scores of a new
    subject: the shape model's own (``sdf_*``) and the twins (``twin_*``)."""

    def __init__(self, variance: float = VARIANCE) -> None:
        self.variance = variance

    def fit(self, healthy: list[SubjectShape]) -> TwinScorer:
        fields = fields_of(healthy)
        self.model = ShapeModel(self.variance).fit(fields)
        maps, profiles = self._held_out_measures(healthy, fields)
        self.voxel_mm = float(np.median([voxel_spacing(s.affine).min() for s in healthy]))
        self.aspects = _norm("aspects", PROFILE_SCALE_FLOOR, [s.aspects for s in healthy])
        self.maps = _norm("map", MAP_SCALE_FLOOR * self.voxel_mm, maps)
        self.profiles = _norm("profile", PROFILE_SCALE_FLOOR, profiles)
        rows = []
        for i in range(len(healthy)):
            others = [j for j in range(len(healthy)) if j != i] or [i]
            own_maps = _norm("map", MAP_SCALE_FLOOR * self.voxel_mm, [maps[j] for j in others])
            own_profiles = _norm("profile", PROFILE_SCALE_FLOOR, [profiles[j] for j in others])
            rows.append(
                {
                    "twin_ssm_atrophy": own_maps.lowest(maps[i], REGIONAL_TOP_K),
                    "twin_ssm_flattening": own_profiles.lowest(profiles[i], FLATTENING_TOP_K),
                }
            )
        self.calibration = ScoreCalibration(self.voxel_mm)
        self.calibration.store(rows, SSM_MEMBERS)
        return self

    def _held_out_measures(self, healthy: list[SubjectShape], fields: np.ndarray) -> tuple[list, list]:
        """Each subject's deviation map and profile against its restoration by a model fitted without it."""
        flat = fields.reshape(len(fields), -1)
        shifted = flat - flat.mean(axis=0)
        gram = shifted.astype(np.float64) @ shifted.T.astype(np.float64)
        maps, profiles = [], []
        for i, subject in enumerate(healthy):
            others = [j for j in range(len(healthy)) if j != i] or [i]
            model = ShapeModel(self.variance).fit(fields[others], gram[np.ix_(others, others)])
            deviation, profile = restored_measures(subject, model.reconstruct(fields[i : i + 1])[0])
            maps.append(deviation.map())
            profiles.append(profile)
        return maps, profiles

    def measures(self, subject: SubjectShape) -> tuple[SurfaceDeviation, np.ndarray]:
        """A new subject's surface deviation and flattening profile against its restoration by the model."""
        return restored_measures(subject, self.model.reconstruct(subject.sdf[None])[0])

    def score(self, subject: SubjectShape) -> dict[str, float]:
        ssm = self.model.score(subject.sdf[None])
        deviation, profile = self.measures(subject)
        values = {f"sdf_{name}": float(value[0]) for name, value in ssm.items()}
        values["sdf_components"] = self.model.kept
        values["twin_flattening"] = self.aspects.lowest(subject.aspects, FLATTENING_TOP_K)
        values["twin_ssm_flattening"] = self.profiles.lowest(profile, FLATTENING_TOP_K)
        values["twin_ssm_atrophy"] = self.maps.lowest(deviation.map(), REGIONAL_TOP_K)
        values["twin_combined"] = float(self.calibration.mean_z(SSM_MEMBERS, values))
        return values


def coefficient_axis(
    model: ShapeModel, healthy: list[SubjectShape], abnormal: list[SubjectShape], method: str = "auto"
) -> AbnormalAxis:
    """The abnormal axis learned from the shape model's coefficients of healthy and labelled abnormal subjects, as
    the bundle learns it from INR codes (``scoring.axis``). The healthy training subjects' coefficients are in sample:
    a PCA's coefficients of new healthy subjects spread alike along the leading axes, unlike its residuals."""
    axis = AbnormalAxis()
    axis.learn(
        model.coefficients(fields_of(healthy)), model.coefficients(fields_of(abnormal)), method, "the shape model"
    )
    return axis


def ssm_axis_score(axis: AbnormalAxis, model: ShapeModel, subjects: list[SubjectShape]) -> np.ndarray:
    """Subjects' positions along the coefficient axis, in healthy standard deviations (positive: towards abnormal)."""
    return axis.score(model.coefficients(fields_of(subjects)))
