"""Custom code of the muscle_shape_inr_anomaly bundle, importable as ``scripts`` when the bundle root is on the path.

The folders group the code by the role it plays in MONAI's architecture, as MONAI's own ``apps`` packages do, and the
configs name each object by its package (``scripts.transforms.LoadLabelmapd``, ``scripts.handlers.ScoresWriter``):

- ``data``: datalists, the subjects a run reads, file writing and the voxel/world geometry;
- ``transforms``: the dictionary transforms, from loading a labelmap to the per-subject scores and output files;
- ``networks``: the occupancy decoder, its latent codes, ensembles and the training loss;
- ``engines``: what the stock engines are given (``PrepareBatch`` and ``Inferer``), the latent fit and the decoding;
- ``handlers``: Ignite handlers for training, calibration and the scores a run writes;
- ``scoring``: what makes a shape abnormal: reconstruction metrics, surface deviations, norms, calibration, the axis;
- ``visualize``: figures, meshes and the 3D summary page;
- ``study`` and ``synthetic``: the cross-validation study and the synthetic cohorts.

The modules at this level are the bundle's plumbing: the command line, model settings and checkpoints, file names
(``layout``), errors, overrides, tracking and process set-up. Importing the package changes nothing
global: workflows install the bundle's one-line error reporting (``errors.install_excepthook``) when they start.
"""

from . import checkpoints, layout, runtime, settings, tracking, transforms  # named in configs' expressions

__all__ = ["checkpoints", "layout", "runtime", "settings", "tracking", "transforms"]
