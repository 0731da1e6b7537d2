"""Each subject's scores judged against the model's healthy reference, in the chain before anything is written."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

from monai.transforms import MapTransform

from ..scoring.reference import HealthyReference, check_decision_score


class CalibrateScoresd(MapTransform):
    """The reference scores of the subject's fit, ``combined``, and for every calibrated score its z-score, percentile
    among the healthy subjects and decision at the reference's level (``HealthyReference.assess``); then ``decision``:
    the ``decision_score``'s, "abnormal" or "normal" ("n/a" without a calibrated reference). The reference is read
    when the first subject comes (the checkpoint loader fills it as the run starts).

    Args:
        keys: the row of scores to complete (``ScoreSubjectd``'s ``output_key``).
        reference: the model's healthy reference.
        decision_score: the calibrated score whose ``<name>_abnormal`` becomes the ``decision``.
        pred_key, deviation_key, profile_key: the fit (its ``code``), the vertex deviations and the flattening profile.

    Raises:
        SettingsError: at the first subject, ``decision_score`` is not a score the reference is calibrated for.
    """

    def __init__(
        self,
        keys="scores",
        reference: HealthyReference | None = None,
        decision_score: str = "combined",
        pred_key: str = "pred",
        deviation_key: str = "deviation",
        profile_key: str = "flattening_profile",
    ) -> None:
        super().__init__(keys)
        self.reference, self.decision_score = reference, decision_score
        self.pred_key, self.deviation_key, self.profile_key = pred_key, deviation_key, profile_key
        self.checked = False

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        ready = self.reference is not None and self.reference.ready
        if ready and not self.checked:
            check_decision_score(self.reference, self.decision_score)
            self.checked = True
        for key in self.key_iterator(d):
            row = dict(d[key])
            if ready:
                code = d[self.pred_key]["code"].detach().cpu()
                deviation = d.get(self.deviation_key)
                deviation_map = deviation.map(self.reference.map_bins) if deviation is not None else None
                row.update(self.reference.assess(row, code, deviation_map, d.get(self.profile_key)))
            flag = row.get(f"{self.decision_score}_abnormal")
            row["decision"] = "n/a" if flag is None else ("abnormal" if flag else "normal")
            d[key] = row
        return d
