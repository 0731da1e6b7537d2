"""One subject's files beside its scores: its code, overlay, meshes, then its scores file (the mark it is complete).

Picklable and without state of the run, so that the engine's thread, a writing thread or a scoring process
(``scoring_pool``) writes a subject alike.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from ..data.files import atomic_path, write_json
from ..layout import SubjectFiles, safe_id
from ..records import RunRecord
from ..scoring.norms import RegionalNorm
from ..visualize import figures, meshes

logger = logging.getLogger(__name__)


class SubjectWriter:
    """Writes a scored subject's files (``layout.SubjectFiles``).

    Args:
        files: the run's subject files; overlays, meshes: write each subject's overlay PNG and its meshes.
        norm: the healthy reference's norm of deviation maps, which gives each mesh vertex its z-score (None: none).
        record: what the run is made of, written into every scores file (``made_by``).
    """

    def __init__(
        self,
        files: SubjectFiles,
        overlays: bool = True,
        meshes: bool = True,
        norm: RegionalNorm | None = None,
        record: RunRecord | None = None,
    ) -> None:
        self.files, self.overlays, self.meshes, self.norm, self.record = files, overlays, meshes, norm, record

    def __call__(self, item: dict, row: dict) -> None:
        subject = safe_id(row["id"])
        code = item["pred"]["code"].detach().cpu().numpy().astype(np.float32)
        with atomic_path(self.files.code(subject)) as tmp, open(tmp, "wb") as stream:
            np.save(stream, code)
        if self.overlays and "recon" in item:
            label = item["label"]
            figures.overlay(
                np.asarray(torch.as_tensor(label)[0]),
                np.asarray(torch.as_tensor(item["recon"])[0]),
                label.affine,
                f"{subject}: Dice {row['dice']:.3f}, {row['decision']}",
                self.files.overlay(subject),
            )
        if self.meshes and "deviation" in item:
            norm = self.norm if self.norm is not None and self.norm.ready else None
            meshes.write_subject_meshes(self.files, subject, item["deviation"], item["recon"], norm)
        made_by = {"made_by": self.record.subject(row)} if self.record is not None else {}
        write_json({**row, **made_by}, self.files.scores(subject))
        logger.info("%s: Dice %.4f, HD95 %.2f mm, %s", subject, row["dice"], row["hd95_mm"], row["decision"])
