"""Surface meshes for 3D Slicer and ParaView: VTK (meshio) with the deviation as point data, PLY in colour.

Vertices are written in LPS millimetres, the convention 3D Slicer assumes for model files, and the files say so where
the format allows it (``SPACE=LPS`` in the legacy VTK header and in a PLY comment, as Slicer writes them), so that a
mesh dropped into Slicer lies on the labelmap it came from. The bundle works in RAS internally: reading a mesh back
(``read_vtk``) returns RAS again.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..data.files import atomic_path
from ..scoring.deviation import Surface, SurfaceDeviation, mask_surface
from ..scoring.norms import RegionalNorm

RAS_TO_LPS = np.array([-1.0, -1.0, 1.0])
SPACE_TAG = "SPACE=LPS"
DEVIATION_LIMIT_MM = 3.0  # deviations of this size or more get the full colour


def deviation_colours(deviation: np.ndarray, limit_mm: float = DEVIATION_LIMIT_MM) -> np.ndarray:
    """RGB (uint8) per vertex: red where tissue is missing (negative), blue where there is extra, white near zero;
    the same colours as the overlays and anomaly maps."""
    from matplotlib import colormaps

    scaled = 0.5 + 0.5 * np.clip(np.asarray(deviation, dtype=np.float64) / limit_mm, -1.0, 1.0)
    return (255 * colormaps["RdBu"](scaled)[:, :3]).round().astype(np.uint8)


def write_vtk(path: str | os.PathLike, surface: Surface, point_data: dict[str, np.ndarray] | None = None) -> Path:
    """A triangle mesh as a legacy VTK file with per-vertex arrays (``deviation_mm``, ``normative_z``, ...)."""
    import meshio

    mesh = meshio.Mesh(
        surface.vertices * RAS_TO_LPS,
        [("triangle", np.asarray(surface.faces, dtype=np.int64))],
        point_data={k: np.asarray(v, dtype=np.float32) for k, v in (point_data or {}).items()},
    )
    path = Path(path)
    with atomic_path(path) as tmp:
        meshio.write(tmp, mesh, file_format="vtk", binary=True)
        version, _, rest = tmp.read_bytes().split(b"\n", 2)  # the header's free-text line: the coordinate system
        tmp.write_bytes(version + f"\n{SPACE_TAG} muscle_shape_inr_anomaly\n".encode() + rest)
    return path


def read_vtk(path: str | os.PathLike) -> tuple[Surface, dict[str, np.ndarray]]:
    """A mesh written by ``write_vtk``, back in RAS, with its point data."""
    import meshio

    mesh = meshio.read(path, file_format="vtk")
    faces = np.concatenate([block.data for block in mesh.cells if block.type == "triangle"])
    return Surface(np.asarray(mesh.points, dtype=np.float64) * RAS_TO_LPS, faces), dict(mesh.point_data)


PLY_VERTEX = np.dtype(
    [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1"), ("deviation_mm", "<f4")]
)
PLY_FACE = np.dtype([("count", "u1"), ("vertex_indices", "<i4", (3,))])
PLY_TYPES = {"f4": "float", "u1": "uchar", "i4": "int"}


def write_ply(path: str | os.PathLike, surface: Surface, deviation: np.ndarray) -> Path:
    """A binary little-endian PLY with the signed deviation as vertex colour (and as a ``deviation_mm`` property),
    written from whole arrays: one header, then every vertex and every face record as one block of bytes."""
    colours = deviation_colours(deviation)
    vertices = np.empty(len(surface.vertices), dtype=PLY_VERTEX)
    lps = surface.vertices * RAS_TO_LPS
    for axis, name in enumerate("xyz"):
        vertices[name] = lps[:, axis]
    for channel, name in enumerate(("red", "green", "blue")):
        vertices[name] = colours[:, channel]
    vertices["deviation_mm"] = deviation
    faces = np.empty(len(surface.faces), dtype=PLY_FACE)
    faces["count"], faces["vertex_indices"] = 3, surface.faces
    comments = [
        SPACE_TAG,
        f"colour: distance to the normal shape, red = missing, blue = extra tissue, full at {DEVIATION_LIMIT_MM} mm",
    ]
    header = ["ply", "format binary_little_endian 1.0", *(f"comment {c}" for c in comments)]
    header += [f"element vertex {len(vertices)}"]
    header += [f"property {PLY_TYPES[vertices.dtype[name].str[1:]]} {name}" for name in vertices.dtype.names]
    header += [f"element face {len(faces)}", "property list uchar int vertex_indices", "end_header"]
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as stream:
        stream.write(("\n".join(header) + "\n").encode("ascii"))
        stream.write(vertices.tobytes())
        stream.write(faces.tobytes())
    return path


def write_subject_meshes(files, subject: str, deviation: SurfaceDeviation, recon, norm: RegionalNorm | None) -> None:
    """A subject's meshes, in the input's physical space: its surface as VTK (deviation in mm and, with a calibrated
    ``norm`` of deviation maps, its z-score per vertex) and coloured PLY, and its reconstruction's surface as VTK.

    Args:
        files: the run's ``layout.SubjectFiles``; subject: the subject's file-safe id.
        deviation: the input's surface and its deviations; recon: the reconstruction (a channel-first MetaTensor).
        norm: the healthy reference's norm of deviation maps, or None.
    """
    point_data = {"deviation_mm": deviation.deviation}
    if norm is not None and norm.ready:
        point_data["normative_z"] = norm.vertex_z(deviation)
    write_vtk(files.mesh(subject), deviation.surface, point_data)
    write_ply(files.mesh(subject, ext=".ply"), deviation.surface, deviation.deviation)
    mask = np.asarray(recon[0].cpu(), dtype=bool)
    if mask.any():
        write_vtk(files.mesh(subject, "recon_surface"), mask_surface(mask, recon.affine))
