"""The auto-decoder of DeepSDF: a table of per-subject latent codes trained jointly with the decoder."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .decoder import OccupancyDecoder


class LatentTable(nn.Module):
    """One trainable code per training subject, initialised N(0, 1/sqrt(dim)) as in DeepSDF.

    For an ensemble of ``members`` decoders (``ensemble.DecoderEnsemble``) a subject's code holds one part per member,
    side by side (``members * latent_dim`` numbers), each part initialised as a single code would be. The subject ids
    travel with the weights (``get_extra_state``), so a checkpoint says whose codes it holds.
    With ``resize_on_load`` (inference), loading a checkpoint adopts its number of codes; otherwise (training,
    resuming) a checkpoint made for other subjects is refused.

    Args:
        num_subjects: rows of the table, one per training subject.
        latent_dim: each member's code size; members: decoders the codes are for (1: a single decoder).
        case_ids: the subjects' ids, one per row; None numbers them ``"0"``, ``"1"``...
        resize_on_load: adopt a checkpoint's number of codes when loading (inference) instead of refusing it.

    Raises:
        ValueError: no subject or member, or not one case id per row.
    """

    def __init__(
        self,
        num_subjects: int = 1,
        latent_dim: int = 128,
        case_ids: Sequence[str] | None = None,
        resize_on_load: bool = False,
        members: int = 1,
    ) -> None:
        super().__init__()
        self.resize_on_load = resize_on_load
        if num_subjects < 1 or members < 1:
            raise ValueError("the latent table needs at least one subject and one member")
        self.codes = nn.Embedding(num_subjects, latent_dim * members)
        nn.init.normal_(self.codes.weight, 0.0, 1.0 / math.sqrt(latent_dim))
        self.case_ids = [str(c) for c in case_ids] if case_ids is not None else [str(i) for i in range(num_subjects)]
        self.named = case_ids is not None  # rows of named subjects: a checkpoint for others is refused
        if len(self.case_ids) != num_subjects:
            raise ValueError(f"{len(self.case_ids)} case ids for {num_subjects} codes")

    def forward(self, case_index: torch.Tensor) -> torch.Tensor:
        return self.codes(case_index)

    @property
    def vectors(self) -> torch.Tensor:
        """The codes ``[num_subjects, latent_dim]``, detached: what fits start from and references model."""
        return self.codes.weight.detach()

    @classmethod
    def from_state_dict(cls, state: dict) -> LatentTable:
        """The table stored in a checkpoint, with its case ids, without knowing its size beforehand."""
        table = cls(latent_dim=1, resize_on_load=True)
        table.load_state_dict(state)
        return table

    def get_extra_state(self) -> dict:
        return {"case_ids": list(self.case_ids)}

    def set_extra_state(self, state: dict) -> None:
        case_ids = [str(c) for c in state["case_ids"]]
        same_size = len(case_ids) == len(self.case_ids)  # otherwise the weights' size mismatch says it
        if self.named and not self.resize_on_load and same_size and case_ids != self.case_ids:
            first = next(f"{a} != {b}" for a, b in zip(case_ids, self.case_ids, strict=True) if a != b)
            raise ValueError(f"the checkpoint's codes are for other subjects ({first})")
        self.case_ids = case_ids

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        weight = state_dict.get(prefix + "codes.weight")
        if weight is not None and self.resize_on_load and weight.shape != self.codes.weight.shape:
            device = self.codes.weight.device
            self.codes = nn.Embedding(weight.shape[0], weight.shape[1]).to(device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class AutoDecoder(nn.Module):
    """Decoder and code table in one module, as the trainer (and DistributedDataParallel) sees them.

    ``forward(points, case_index)`` returns the logits and the codes used, so that the loss can regularise them.
    ``bf16`` runs the decoder under bfloat16 autocast (about 2.6x faster on a recent CPU); logits come back float32.

    Args:
        decoder: the occupancy decoder (or ``DecoderEnsemble``); latent_table: the codes trained with it.
        bf16: run the decoder under bfloat16 autocast.
    """

    def __init__(self, decoder: OccupancyDecoder, latent_table: LatentTable, bf16: bool = False) -> None:
        super().__init__()
        self.decoder = decoder
        self.latent_table = latent_table
        self.bf16 = bf16

    def forward(self, points: torch.Tensor, case_index: torch.Tensor) -> dict[str, torch.Tensor]:
        codes = self.latent_table(case_index)
        with torch.autocast(device_type=points.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits = self.decoder.decode_points(codes, points)
        return {"logits": logits.float(), "codes": codes}
