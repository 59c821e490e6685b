"""The training recipe: one call trains an encoder with online triplet mining on a CPU.

    result = train_encoder(bench, minutes=5)       # bench from datasets.load_benchmark()
    result.model, result.history, result.report

What the recipe does (see :class:`Recipe` for the numbers):

1. **P×K batches** with augmentation (:class:`~course_utils.sampler.PKSampler`), one ``fit`` call.
2. **Loss**: batch-all triplet loss — it averages over every *active* triplet, so gradients are
   many and gentle and the embedding does not collapse (batch-hard from scratch does). A
   schedule that blends into another strategy later is built in (``final_strategy``,
   ``switch_start``/``switch_end``); measured on LFW with a short CPU budget, switching to
   batch-hard after 30–60 % of the budget *lowered* validation AUC (0.89 vs 0.92), so the default
   keeps batch-all throughout.
3. **Learning rate**: short warm-up, then cosine decay to 1 % over the budget (a time budget or
   a step budget), AdamW with a little weight decay.
4. **Watching**: validation ROC-AUC every epoch on identity-disjoint pairs, a live plot in
   JupyterLab (a static figure elsewhere), and a **collapse detector** that warns in plain
   words when all embeddings bunch together.
5. **Checkpoint**: the weights of the epoch with the best validation AUC are restored at the end,
   their batch-norm statistics re-estimated (7.), and that model is saved once as ``.keras``;
   its provenance record's ``best_val_auc`` is measured on the saved model.
6. **Several devices**: with more than one GPU (or CPU logical device) the run uses a
   ``tf.distribute.MirroredStrategy`` (see :mod:`course_utils.distribute`): each replica gets
   whole people of the P×K batch and the loss is reduced over the global batch.
7. **Batch-norm statistics** are recomputed at the end under the final weights
   (:func:`reestimate_batchnorm`): after a short run the running averages lag behind; measured on
   LFW View 1 after 6,400 images, 10-fold accuracy 0.613 → 0.688 and AUC 0.656 → 0.760.
8. **Precision**: float32, or ``mixed_bfloat16`` for *training* where the CPU has bfloat16
   instructions and it measured faster (once per machine; never in quick/test mode or grading:
   :func:`choose_precision`, the choice is printed). The returned model computes in float32.
"""
from __future__ import annotations

import contextlib
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from course_utils.config import quiet_tensorflow

quiet_tensorflow()   # before Keras starts TensorFlow: keeps its C++ start-up log out of notebooks
import keras
from keras import ops

from course_utils import losses, precision
from course_utils.config import IMAGE_SIZE, data_dir, quick_mode
from course_utils.datasets import Benchmark, FaceSet, Pairs
from course_utils.precision import PRECISIONS, cpu_bf16_flags  # noqa: F401 — re-exported
from course_utils.models import all_layers, as_float32, build_encoder, embed, load_encoder, save_encoder
from course_utils.sampler import PKSampler


@dataclass
class Recipe:
    """Everything that defines a training run (defaults: the course's tested recipe)."""

    P: int = 16                      # people per batch
    K: int = 4                       # images per person
    margin: float = 0.2              # α in max(d(a,p) − d(a,n) + α, 0), squared distances
    strategy: str = "batch_all"      # mining at the start
    final_strategy: str | None = None    # mining at the end (None: keep `strategy`); see below
    switch_start: float = 0.3        # fraction of the budget where the switch starts ...
    switch_end: float = 0.6          # ... and where it is complete (linear blend in between)
    learning_rate: float = 1e-3
    warmup: float = 0.03             # fraction of the budget with a linear warm-up
    final_lr_fraction: float = 0.01  # cosine decay down to this fraction of learning_rate
    weight_decay: float = 1e-4
    stem: int | None = 16            # filters of a 5×5 stride-2 first convolution (None: no stem)
    widths: tuple[int, ...] = (32, 96, 192)   # one conv block each; every block halves the resolution
    head: str = "flatten"            # "flatten": keep where features are (aligned faces) | "gap": average them
    embedding_dim: int = 128
    augment: bool = True
    steps_per_epoch: int = 50        # an "epoch" here = how often we validate and plot
    seed: int = 0
    bn_momentum: float = 0.99        # batch-norm running statistics (Keras default 0.99)
    reestimate_bn: int = 20          # at the end, recompute batch-norm statistics over this many batches of 256 (0: no)
    precision: str = "auto"          # "auto" | "float32" | "mixed_bfloat16" (see choose_precision)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def previous(cls) -> "Recipe":
        """The first recipe (version 1): the lesson-3 head (global average pooling), a 32-filter
        stem and widths (64, 128, 256), float32, no batch-norm pass at the end — kept so a
        speed-up of the current recipe is always measured against the same starting point.

        ``course.py bench train`` times it against the current recipe in the same run.
        """
        return cls(stem=32, widths=(64, 128, 256), head="gap", reestimate_bn=0, precision="float32")

    def build_encoder(self, input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3)) -> keras.Model:
        """A new (untrained) encoder with this recipe's architecture, for ``input_shape`` images."""
        return build_encoder(tuple(input_shape), self.embedding_dim, tuple(self.widths), stem=self.stem,
                             bn_momentum=self.bn_momentum, head=self.head)


@dataclass
class TrainingResult:
    model: keras.Model
    history: dict[str, list[float]]
    seconds: float
    images_seen: int
    recipe: Recipe
    checkpoint: Path | None = None
    report: dict = field(default_factory=dict)

    @property
    def images_per_second(self) -> float:
        return self.images_seen / max(self.seconds, 1e-9)


# ----------------------------------------------------------------------------- the loss
@keras.saving.register_keras_serializable(package="course_utils")
class ScheduledTripletLoss(keras.losses.Loss):
    """``(1 − w)·strategy + w·final_strategy``; ``w`` (a variable) is moved by :class:`BudgetSchedule`."""

    def __init__(self, strategy="batch_all", final_strategy=None, margin=0.2, name="triplet_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.strategy, self.final_strategy, self.margin = strategy, final_strategy, margin
        self.blend = keras.Variable(0.0, trainable=False, dtype="float32", name="mining_blend")

    def call(self, y_true, y_pred):
        first = _replica_loss(y_true, y_pred, self.strategy, self.margin)
        if not self.final_strategy or self.final_strategy == self.strategy:
            return first
        second = _replica_loss(y_true, y_pred, self.final_strategy, self.margin)
        w = ops.cast(self.blend, first.dtype)
        return (1.0 - w) * first + w * second

    def get_config(self):
        return {**super().get_config(), "strategy": self.strategy,
                "final_strategy": self.final_strategy, "margin": self.margin}


# ----------------------------------------------------------------------------- several devices
def _replica_loss(y_true, y_pred, strategy: str, margin: float):
    """The mined loss of this batch; under a multi-replica strategy, this replica's share of the
    global-batch loss (batch-all: weighted by its active triplets; see course_utils.distribute)."""
    loss, stats = losses.triplet_loss_from_batch(y_true, y_pred, strategy, margin)
    from course_utils import distribute
    if distribute.replicas() == 1:
        return loss
    if strategy != "batch_all":
        return distribute.replica_share(loss)
    return distribute.replica_share(loss, stats["num_active"])


def _strategy_scope(distribution, recipe: Recipe):
    """``(strategy or None, context manager)`` for ``train_encoder``'s ``distribution`` argument."""
    from course_utils import distribute
    strategy = distribute.pick_strategy(distribution)
    if strategy is None or strategy.num_replicas_in_sync == 1:
        return None, contextlib.nullcontext()
    r = strategy.num_replicas_in_sync
    if recipe.P % r:
        raise ValueError(f"P={recipe.P} people per batch cannot be shared by {r} devices: each device must get "
                         f"whole people. Use a P that is a multiple of {r} (e.g. Recipe(P={r * max(1, recipe.P // r)})) "
                         "or distribution='off'.")
    return strategy, strategy.scope()


# ----------------------------------------------------------------------------- callbacks
class BudgetSchedule(keras.callbacks.Callback):
    """Learning-rate warm-up + cosine decay, the mining blend, and stopping — by time or steps.

    Progress ``f`` in [0, 1] is elapsed/``seconds`` (time budget) or step/``steps``.
    """

    def __init__(self, recipe: Recipe, loss: ScheduledTripletLoss, seconds: float | None = None,
                 steps: int | None = None):
        super().__init__()
        if (seconds is None) == (steps is None):
            raise ValueError("Give exactly one budget: seconds or steps.")
        self.recipe, self.loss, self.seconds, self.steps = recipe, loss, seconds, steps
        self.step = 0
        self.start = None

    def progress(self) -> float:
        if self.seconds is not None:
            return min(1.0, (time.perf_counter() - self.start) / self.seconds)
        return min(1.0, self.step / self.steps)

    def learning_rate(self, f: float) -> float:
        r = self.recipe
        if f < r.warmup:
            return r.learning_rate * max(f / r.warmup, 0.05)
        g = (f - r.warmup) / max(1e-9, 1 - r.warmup)
        low = r.learning_rate * r.final_lr_fraction
        return low + 0.5 * (r.learning_rate - low) * (1 + math.cos(math.pi * g))

    def blend(self, f: float) -> float:
        r = self.recipe
        return float(np.clip((f - r.switch_start) / max(1e-9, r.switch_end - r.switch_start), 0, 1))

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        f = self.progress()
        self.model.optimizer.learning_rate.assign(self.learning_rate(f))
        self.loss.blend.assign(self.blend(f))

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.progress() >= 1.0:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = float(self.model.optimizer.learning_rate.numpy())
            logs["hard_mining"] = self.blend(self.progress())


class Validation(keras.callbacks.Callback):
    """Validation ROC-AUC (and mean same/different distances) on identity-disjoint pairs each epoch.

    Keeps the best weights (by AUC) in memory and restores them when training ends; saving is
    :func:`train_encoder`'s job, once, after the batch-norm pass, so the file on disk is the
    model its provenance record describes.
    """

    def __init__(self, pairs: Pairs, restore_best: bool = True):
        super().__init__()
        self.pairs, self.restore_best = pairs, restore_best
        self.best_auc, self.best_weights = -1.0, None

    def on_epoch_end(self, epoch, logs=None):
        from course_utils.metrics import roc_auc

        d = self.pairs.distances(embed(self.model, self.pairs.faces.images))
        auc = roc_auc(d, self.pairs.same)
        if logs is not None:
            logs["val_auc"] = auc
            logs["val_d_same"] = float(d[self.pairs.same].mean())
            logs["val_d_diff"] = float(d[~self.pairs.same].mean())
            logs["val_d_spread"] = float(d.std())
        if auc > self.best_auc:
            self.best_auc = auc
            self.best_weights = self.model.get_weights()

    def on_train_end(self, logs=None):
        if self.restore_best and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class CollapseDetector(keras.callbacks.Callback):
    """Warns, in plain words, when the embeddings collapse to (nearly) one point.

    Signs of collapse: the loss sits at the margin α (every triplet has d(a,p) ≈ d(a,n)), the
    mean positive and negative distances are equal and tiny, or validation distances no longer
    vary. A collapsed encoder maps every face to nearly the same place: verification is little
    better than a coin flip (lesson 5 measures an AUC of about 0.57).
    """

    MESSAGE = (
        "The embeddings look collapsed: {why}. Every face is being mapped to nearly the same point, "
        "so the loss is stuck at the margin and verification is little better than a coin flip. Fixes that usually work: "
        "(1) start with batch-all mining (Recipe(strategy='batch_all')) instead of batch-hard, "
        "(2) lower the learning rate (e.g. 3e-4), (3) check that the encoder ends with L2 normalisation, "
        "(4) use more people per batch (larger P)."
    )

    def __init__(self, margin: float, patience: int = 2, stop: bool = False):
        super().__init__()
        self.margin, self.patience, self.stop = margin, patience, stop
        self.strikes, self.warned, self.collapsed = 0, False, False

    def diagnose(self, logs: dict) -> str | None:
        loss, d_pos, d_neg = logs.get("loss"), logs.get("d_pos"), logs.get("d_neg")
        spread = logs.get("val_d_spread")
        if d_pos is not None and d_neg is not None and max(d_pos, d_neg) < 0.02:
            return f"mean distances are ~0 (positive {d_pos:.2g}, negative {d_neg:.2g})"
        if loss is not None and abs(loss - self.margin) < 0.05 * self.margin and \
                d_pos is not None and d_neg is not None and abs(d_neg - d_pos) < 0.25 * self.margin:
            return f"the loss is pinned at the margin ({loss:.3f} ≈ α = {self.margin}) and d(a,p) ≈ d(a,n)"
        if spread is not None and spread < 1e-3:
            return "validation distances are all the same"
        return None

    def on_epoch_end(self, epoch, logs=None):
        why = self.diagnose(logs or {})
        self.strikes = self.strikes + 1 if why else 0
        if why and self.strikes >= self.patience:
            self.collapsed = True
            if not self.warned:
                warnings.warn(self.MESSAGE.format(why=why), RuntimeWarning, stacklevel=2)
                self.warned = True
            if self.stop:
                self.model.stop_training = True


class Recorder(keras.callbacks.Callback):
    """Collects every epoch's logs (after the other callbacks added theirs) and draws them."""

    def __init__(self, live: bool = True, verbose: bool = True):
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.live, self.verbose = live, verbose
        self.view = None

    def on_train_begin(self, logs=None):
        self.t0 = time.perf_counter()
        if self.live:
            from course_utils.plots import LiveTrainingView
            self.view = LiveTrainingView()

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        logs["time"] = time.perf_counter() - self.t0
        for k, v in logs.items():
            self.history.setdefault(k, []).append(float(v))
        if self.view is not None:
            self.view.update(self.history)
        elif self.verbose:
            print(f"epoch {epoch + 1:3d}  {logs['time']:6.0f} s  loss {logs.get('loss', float('nan')):.4f}  "
                  f"active {logs.get('active_triplets', float('nan')):.2f}  "
                  f"val AUC {logs.get('val_auc', float('nan')):.3f}", flush=True)

    def on_train_end(self, logs=None):
        if self.view is not None:
            self.view.close(self.history)


# ----------------------------------------------------------------------------- precision
def _time_policy(policy: str, recipe: "Recipe", input_shape, steps: int = 4) -> float:
    """Training images/s of the recipe's encoder under ``policy`` (random P×K batch, after a warm-up)."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = recipe.build_encoder(input_shape)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    compile_for_triplets(model, recipe)
    x = np.random.default_rng(0).uniform(0, 255, (recipe.P * recipe.K, *input_shape)).astype(np.float32)
    y = np.repeat(np.arange(recipe.P), recipe.K)
    model.train_on_batch(x, y)
    t0 = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return steps * len(x) / (time.perf_counter() - t0)


def choose_precision(recipe: "Recipe", input_shape, verbose: bool = True, cpuinfo: str | None = None) -> str:
    """``"float32"`` or ``"mixed_bfloat16"`` for training with ``recipe`` (see :mod:`course_utils.precision`)."""
    return precision.choose_precision(recipe, input_shape, lambda *a: _time_policy(*a), keras.__version__,
                                      verbose=verbose, cpuinfo=cpuinfo)


# ----------------------------------------------------------------------------- the recipe
def default_encoder_path(name: str = "encoder", quick: bool | None = None) -> Path:
    """``data/models/encoder.keras``; in quick mode (the test suite; ``quick=None`` asks
    :func:`quick_mode`) ``encoder-quick.keras``, so a seconds-long run never replaces the encoder
    a student trained for minutes."""
    quick = quick_mode() if quick is None else quick
    return data_dir() / "models" / f"{name}{'-quick' if quick else ''}.keras"


def describe_encoder(path: Path) -> str:
    """One line on what a saved encoder is, from its provenance (dataset, images seen, time, AUC)."""
    info = read_provenance(path)
    if not info:
        return f"{path.parent.name}/{path.name}"
    auc = info.get("best_val_auc")
    return (f"{path.parent.name}/{path.name}: {info.get('dataset', '?')}, {int(info.get('images_seen', 0)):,} images "
            f"in {float(info.get('seconds', 0)) / 60:.1f} min" + (" (quick mode)" if info.get("quick_mode") else "")
            + (f", validation AUC {auc:.3f}" if isinstance(auc, (int, float)) and auc == auc else ""))


def keep_previous(path: Path, images_seen: int, verbose: bool = True) -> Path | None:
    """Before ``path`` is overwritten: move the encoder there (and its provenance) to
    ``NAME.previous.keras`` and return that path — nothing trained is lost. Says so when the old
    one had seen more images than the new one (a shorter run replacing a longer one)."""
    path = Path(path)
    if not path.exists():
        return None
    old = read_provenance(path)
    backup = path.with_name(f"{path.stem}.previous.keras")
    path.replace(backup)
    if path.with_suffix(".json").exists():
        path.with_suffix(".json").replace(backup.with_suffix(".json"))
    if verbose and int(old.get("images_seen", 0)) > images_seen:
        print(f"Note: the encoder saved before had seen more images ({int(old['images_seen']):,} vs "
              f"{images_seen:,}); it is kept as {backup.name} — copy it back to {path.name} to use it again.")
    return backup


def compile_for_triplets(model: keras.Model, recipe: Recipe) -> ScheduledTripletLoss:
    loss = ScheduledTripletLoss(recipe.strategy, recipe.final_strategy, recipe.margin)
    model.compile(
        optimizer=keras.optimizers.AdamW(recipe.learning_rate, weight_decay=recipe.weight_decay),
        loss=loss,
        metrics=losses.triplet_metrics("batch_all", recipe.margin),
    )
    return loss


def train_encoder(data: Benchmark | FaceSet, minutes: float | None = None, steps: int | None = None,
                  recipe: Recipe | None = None, val: Pairs | None = None, model: keras.Model | None = None,
                  checkpoint: str | Path | None = "auto", live: bool = True, verbose: bool = True,
                  stop_on_collapse: bool = False, distribution="auto") -> TrainingResult:
    """Train an encoder with online triplet mining for a time (``minutes``) or ``steps`` budget.

    Args:
        data: a :class:`Benchmark` (train + validation pairs) or a training :class:`FaceSet`
            (then give ``val`` pairs of other people, or validation is skipped).
        minutes / steps: the budget (exactly one; default 5 minutes, 20 seconds in quick mode).
        recipe: hyper-parameters (:class:`Recipe`); defaults are the course's tested recipe.
        model: continue training this encoder instead of building a new one.
        checkpoint: ``"auto"`` → ``data/models/encoder.keras`` (``encoder-quick.keras`` in quick
            mode); a path; or ``None`` (no file). An encoder already there is kept as
            ``encoder.previous.keras``.
        live: draw loss / active triplets / validation AUC while training.
        stop_on_collapse: stop early if the collapse detector fires.
        distribution: ``"auto"`` (MirroredStrategy when more than one GPU / logical CPU device
            is present), ``"off"``, or a ``tf.distribute.Strategy`` (e.g. multi-worker); see
            :mod:`course_utils.distribute`. The batch stays P×K in total, split by people.
    """
    recipe = recipe or Recipe()
    if minutes is None and steps is None:
        minutes = 1 / 3 if quick_mode() else 5.0
    if minutes is not None and minutes <= 0 or steps is not None and steps <= 0:
        raise ValueError("The training budget (minutes or steps) must be positive.")
    train, val = (data.train, data.val) if isinstance(data, Benchmark) else (data, val)
    if not isinstance(train, FaceSet):
        raise ValueError(f"data must be a Benchmark or a FaceSet, got {type(data).__name__}.")
    shape = train.images.shape[1:]
    # Before seeding: a timing probe (CPUs with bfloat16 only) must not change the run's random numbers.
    policy = choose_precision(recipe, shape, verbose=verbose) if model is None else "float32"
    keras.utils.set_random_seed(recipe.seed)
    sampler = PKSampler(train, P=recipe.P, K=recipe.K, steps_per_epoch=recipe.steps_per_epoch,
                        augment=recipe.augment, seed=recipe.seed)
    strategy, scope = _strategy_scope(distribution, recipe)
    with scope:                     # variables created here are mirrored on every device
        if model is None:
            previous_policy = keras.mixed_precision.global_policy()
            keras.mixed_precision.set_global_policy(policy)
            try:
                model = recipe.build_encoder(shape)
            finally:
                keras.mixed_precision.set_global_policy(previous_policy)
        elif strategy is not None:  # a model built outside the scope: copy it into the scope
            weights, model = model.get_weights(), keras.models.clone_model(model)
            model.set_weights(weights)
        loss = compile_for_triplets(model, recipe)
    path = default_encoder_path() if checkpoint == "auto" else (Path(checkpoint) if checkpoint else None)
    schedule = BudgetSchedule(recipe, loss, seconds=minutes * 60 if minutes else None, steps=steps)
    callbacks = [schedule]
    if val is not None:
        callbacks.append(Validation(val))
    detector = CollapseDetector(recipe.margin, stop=stop_on_collapse)
    recorder = Recorder(live=live, verbose=verbose)
    callbacks += [detector, recorder]
    max_epochs = math.ceil(steps / recipe.steps_per_epoch) if steps else 10_000
    t0 = time.perf_counter()
    model.fit(sampler, epochs=max_epochs, callbacks=callbacks, verbose=0)
    # Mixed precision stops with training: from here on the encoder computes in float32
    # (the same weights), so embeddings, losses and lessons see float32 on every CPU.
    model = as_float32(model)
    if recipe.reestimate_bn:
        reestimate_batchnorm(model, train, batches=recipe.reestimate_bn, seed=recipe.seed)
    seconds = time.perf_counter() - t0
    if path is not None:
        keep_previous(path, schedule.step * recipe.P * recipe.K, verbose=verbose)
        save_encoder(model, path)
        write_provenance(path, {"dataset": data.name if isinstance(data, Benchmark) else train.source,
                                "quick_mode": quick_mode(), "images_seen": schedule.step * recipe.P * recipe.K,
                                "seconds": round(seconds, 1),
                                "best_val_auc": saved_model_auc(model, val),
                                "recipe": recipe.to_dict()})
    result = TrainingResult(model, recorder.history, seconds, schedule.step * recipe.P * recipe.K,
                            recipe, path)
    result.report = {"collapsed": detector.collapsed, "epochs": len(recorder.history.get("loss", [])),
                     "replicas": strategy.num_replicas_in_sync if strategy is not None else 1,
                     "best_val_auc": max(recorder.history.get("val_auc", [float("nan")]))}
    if verbose:
        print(f"Trained for {seconds:.0f} s ({result.images_seen:,} images, "
              f"{result.images_per_second:.0f} images/s); best validation AUC "
              f"{result.report['best_val_auc']:.3f}" + (f"; saved to {path}" if path else ""))
    return result


def saved_model_auc(model: keras.Model, val: Pairs | None) -> float:
    """Validation ROC-AUC of ``model`` as it is saved (best epoch's weights, batch-norm statistics
    re-estimated): the training history's best AUC predates that pass. NaN without ``val``."""
    if val is None:
        return float("nan")
    from course_utils.metrics import roc_auc
    return float(roc_auc(val.distances(embed(model, val.faces.images)), val.same))


def reestimate_batchnorm(model: keras.Model, faces: FaceSet, batches: int = 20, batch_size: int = 256,
                         seed: int = 0) -> int:
    """Recompute every batch-norm layer's running mean/variance from ``batches`` batches of ``faces``.

    During a short run the running statistics (an exponential average with momentum 0.99) lag
    behind weights that are still changing fast, so inference-mode embeddings differ from the
    training-mode ones. This pass (no gradients, weights unchanged) replaces them with the plain
    average of the batch statistics of un-augmented training images under the final weights
    ("precise BN"). Returns the number of batch-norm layers updated.
    """
    bns = [layer for layer in all_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    if not bns or batches <= 0:
        return 0
    saved = [layer.momentum for layer in bns]
    rng = np.random.default_rng([seed, 7])
    try:
        for k in range(batches):
            for layer in bns:   # moving = m·moving + (1 − m)·batch with m = k/(k+1): the running mean
                layer.momentum = k / (k + 1)
            idx = rng.choice(len(faces.images), size=min(batch_size, len(faces.images)), replace=False)
            model(faces.images[np.sort(idx)].astype(np.float32), training=True)   # eager: momentum is read now
    finally:
        for layer, m in zip(bns, saved):
            layer.momentum = m
    return len(bns)


def evaluate(model, pairs: Pairs, flip_average: bool = True, far: float = 1e-2) -> dict:
    """Verification report of an encoder on ``pairs``: AUC, EER, TAR@FAR, 10-fold accuracy, ..."""
    from course_utils.metrics import verification_report

    d = pairs.distances(embed(model, pairs.faces.images, flip_average=flip_average))
    return verification_report(d, pairs.same, far=far, folds=pairs.fold)


def write_provenance(path: Path, info: dict) -> None:
    """Next to ``encoder.keras``, ``encoder.json`` says what it was trained on and how."""
    import json
    Path(path).with_suffix(".json").write_text(json.dumps(info, indent=1, default=str))


def read_provenance(path: Path) -> dict:
    import json
    side = Path(path).with_suffix(".json")
    try:
        return json.loads(side.read_text()) if side.exists() else {}
    except (OSError, ValueError):
        return {}


def load_or_train_encoder(bench: Benchmark, path: str | Path | None = None, minutes: float = 2.0,
                          verbose: bool = True, recipe: Recipe | None = None) -> keras.Model:
    """The encoder saved by lesson 6 if it exists and suits this data, else a quick new one.

    "Suits" means: same input size, trained on the same dataset (``bench.name``), and not a
    seconds-long test-suite encoder (quick mode) when this is a real run.
    """
    path = Path(path) if path else default_encoder_path()
    size = bench.train.images.shape[1:]
    info = read_provenance(path)
    if info and (info.get("dataset") != bench.name or (info.get("quick_mode") and not quick_mode())):
        if verbose:
            print(f"The saved encoder was trained on {info.get('dataset')}"
                  f"{' in quick test mode' if info.get('quick_mode') else ''}; training a new one for {bench.name}.")
    elif path.exists():
        try:
            model = load_encoder(path)
            if tuple(model.input_shape[1:]) == tuple(size):
                if verbose:
                    print(f"Loaded the encoder trained earlier ({describe_encoder(path)}).")
                return model
            if verbose:
                print(f"The saved encoder expects {model.input_shape[1:]} images, not {size}; training a new one.")
        except Exception as err:  # noqa: BLE001 — a damaged file should not stop the lesson
            if verbose:
                print(f"Could not load {path} ({err}); training a new encoder instead.")
    if verbose:
        print(f"Training a quick encoder now ({'20 s' if quick_mode() else f'{minutes:g} min'}); "
              "lesson 6 trains and saves the full one.")
    budget = 1 / 3 if quick_mode() else minutes
    return train_encoder(bench, minutes=budget, recipe=recipe, checkpoint=path, live=False, verbose=verbose).model
