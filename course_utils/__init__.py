"""course_utils — the library behind the *FaceNet from scratch* notebooks.

Notebooks teach; this package holds the plumbing. Modules (import what you need):

- ``config``     paths, seeds, quick mode, quiet TensorFlow start-up
- ``images``     decoding (files and browser uploads) and the one preprocessing function
- ``synthetic``  procedural synthetic faces (the offline default; no real person's data)
- ``datasets``   LFW, AT&T/Olivetti, any folder of photos, ``load_faces("auto")``, pairs, splits
- ``align``      find faces in real photos (MTCNN) and align them on 5 landmarks
- ``pretrained`` dlib's ResNet behind the encoder interface (optional extra ``pretrained``)
- ``cache``      atomic, checksummed ``.npz`` cache under ``data/``
- ``progress``   tqdm bars for long work (decoding, alignment, dlib); none for short work or in quick mode
- ``sampler``    P×K batch sampler with augmentation for ``model.fit``
- ``models``     the encoder (image → unit-norm embedding) and the pixel baseline
- ``losses``     pairwise distances, triplet loss, batch-all / batch-hard / semi-hard mining
- ``training``   the training recipe, live view, collapse detector, checkpoints
- ``metrics``    verification, recognition and clustering metrics; one threshold in detail
- ``database``   ``FaceDatabase``: enrol, verify, identify, save/load
- ``clustering`` clustering faces by a distance threshold
- ``plots``      figures; ``widgets/`` the interactive explorers, one module per view
- ``exercises/`` the exercise kit: the checks after each exercise, with their mistake catalogues

Importing the package is light (no TensorFlow): ``models``, ``losses``, ``sampler`` and
``training`` start TensorFlow, quietly, when they are imported. Instructor tools (authoring,
grading, publishing) live outside, in ``coursekit/``. See ARCHITECTURE.md.
"""
import os as _os

# Set before anything imports TensorFlow (cheap: does not import it).
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"
