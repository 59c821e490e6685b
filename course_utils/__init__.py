"""course_utils — the machinery behind the *FaceNet from scratch* notebooks.

Notebooks teach; this package holds the plumbing. Modules (import what you need):

- ``config``     paths, seeds, quick mode, quiet TensorFlow start-up
- ``images``     decoding and the one preprocessing function (crop, resize, scale)
- ``synthetic``  procedural synthetic faces (the offline default; no real person's data)
- ``datasets``   LFW, AT&T/Olivetti, any folder of photos, ``load_faces("auto")``, pairs, splits
- ``cache``      atomic, checksummed ``.npz`` cache under ``data/``
- ``sampler``    P×K batch sampler with augmentation for ``model.fit``
- ``models``     the encoder (image → unit-norm embedding)
- ``losses``     pairwise distances, triplet loss, batch-all / batch-hard / semi-hard mining
- ``training``   the training recipe, live view, collapse detector, checkpoints
- ``metrics``    verification, recognition and clustering metrics
- ``database``   ``FaceDatabase``: enrol, verify, identify, save/load
- ``clustering`` clustering faces by a distance threshold
- ``plots`` / ``widgets``  figures and interactive explorers
- ``exercises``  the exercise kit: one module of checks per lesson, solutions, loop references
"""
from course_utils.config import quiet_tensorflow as _quiet_tensorflow

_quiet_tensorflow()

__version__ = "0.1.0"
