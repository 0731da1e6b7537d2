"""The parameters of one synthetic muscle and the names of the generator's models (no numpy: the command line reads
the names without importing the generator)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

GROUPS = ("Y", "OH", "OS")
HEALTHY_GROUPS = ("Y", "OH")
# Disease families of the abnormal group OS (``diseases``); the first is the default and the demo's.
DISEASES = ("flattening", "focal_dent", "proximal_thinning", "distal_thinning", "short_wide", "uniform_wasting")
# How healthy muscles vary (``healthy``): a parametric spindle, or one template warped by a smooth random field.
HEALTHY_MODELS = ("spindle", "deformed_template")

# Nominal size of a young muscle (mm); subjects vary around it.
NOMINAL_LENGTH_MM = 160.0
NOMINAL_WIDTH_MM = 38.0
NOMINAL_THICKNESS_MM = 22.0
# Mild ageing effect of the older healthy group, and the size shift that makes sarcopenic volumes overlap healthy ones.
OLDER_THICKNESS_FACTOR = 0.94
OLDER_WIDTH_FACTOR = 0.98
SARCOPENIC_SCALE_SHIFT = 1.1


@dataclass
class MuscleShape:
    """Generating parameters of one muscle, all in mm, degrees or fractions of the length.

    The fields after ``rotation_deg`` are those of the disease families and of the deformed template; their
    defaults leave the muscle as the original spindle draws it.
    """

    length: float
    width: float
    thickness: float
    bend_lateral: float
    bend_anterior: float
    twist_deg: float
    belly_position: float
    taper: float
    perturbation: list[list[float]] = field(default_factory=list)  # rows: amplitude, k_t, k_phi, phase
    flattening: float = 0.0
    atrophy_depth: float = 0.0
    atrophy_position: float = 0.5
    atrophy_angle: float = 0.0
    distal_thinning: float = 0.0
    rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    disease: str = ""  # the family of an abnormal muscle, empty for a healthy one
    severity: float = 0.0  # strength * U(0.5, 1): what every family's change is proportional to
    proximal_thinning: float = 0.0
    length_factor: float = 1.0  # already applied to ``length``: recorded to tell the disease from the draw
    section_factor: float = 1.0  # already applied to ``width`` and ``thickness``
    displacement: list[list[float]] = field(default_factory=list)  # rows: a_x, a_y, a_z (mm), k_u, k_v, k_t, phase

    def to_dict(self) -> dict:
        return asdict(self)
