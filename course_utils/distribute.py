"""Training on more than one device with ``tf.distribute`` (used by ``training.train_encoder``).

One device (the usual laptop) → no strategy, nothing changes. Several GPUs, or a CPU split into
several logical devices → ``tf.distribute.MirroredStrategy``: the model's variables are mirrored
on every device, each device (a *replica*) runs the forward and backward pass on its slice of the
batch, and the gradients are summed across replicas before one optimizer step.

How the P×K batch is split. Keras hands each replica a contiguous slice of the global batch
(``strategy.experimental_distribute_dataset``). P×K batches are grouped by person
(``[a,a,a,a, b,b,b,b, …]``), so when P is a multiple of the number of replicas R each replica
gets P/R *whole* people with all K of their images: every anchor keeps its positives and its
negatives, and the triplets mined on a replica are valid. ``train_encoder`` refuses a P that R
does not divide.

How the loss is reduced. Keras sums the replicas' gradients and expects each replica's scalar
loss to be its *share* of the global loss (Keras divides a per-sample loss by R itself, but a
triplet loss is already one scalar per batch, so the share is ours to compute). Mining happens
per replica (a negative is one of the P/R people on the same device — as in multi-GPU FaceNet
training). Batch-all averages over *active* triplets and their number differs between replicas,
so each replica returns ``sum_r / Σ_r active_r`` (the counts are all-reduced across replicas):
the gradients then sum to the gradient of ``Σ_r sum_r / Σ_r active_r``, the batch-all loss over
the global batch's triplets. Batch-hard and semi-hard average over anchors / positive pairs,
whose numbers are equal on every replica when each gets whole people: each returns its mean / R.
Keras's loss tracker multiplies by R again and averages over replicas, so the logged loss is the
global one.

Several machines. ``tf.distribute.MultiWorkerMirroredStrategy`` works the same way: start the
same script on every machine with ``TF_CONFIG`` describing the cluster, e.g.
``{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}``,
and pass ``train_encoder(..., distribution=tf.distribute.MultiWorkerMirroredStrategy())``.
Each worker must then read a different slice of the data (or use the same seed with
``PKSampler`` and its own shard) and only worker 0 should write the checkpoint. This path is
documented but not tested here (one machine).
"""
from __future__ import annotations

import tensorflow as tf

__all__ = ["pick_strategy", "replicas", "replica_share"]


def pick_strategy(distribution="auto"):
    """``"auto"``: MirroredStrategy over all GPUs if > 1, else over all logical CPUs if > 1, else None.

    ``None`` or ``"off"``: no strategy. A ``tf.distribute.Strategy`` instance is returned as is.
    """
    if distribution is None or distribution == "off":
        return None
    if isinstance(distribution, tf.distribute.Strategy):
        return distribution
    if distribution != "auto":
        raise ValueError(f"distribution must be 'auto', 'off', None or a tf.distribute.Strategy; got {distribution!r}.")
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy([d.name for d in gpus])
    cpus = tf.config.list_logical_devices("CPU")
    if len(cpus) > 1 and not gpus:
        # CPU devices: all-reduce with plain reductions (NCCL is for GPUs)
        return tf.distribute.MirroredStrategy([d.name for d in cpus],
                                              cross_device_ops=tf.distribute.ReductionToOneDevice())
    return None


def replicas() -> int:
    """Number of replicas of the strategy in scope (1 outside any strategy)."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def replica_share(loss, num_terms=None):
    """This replica's share of the global-batch loss (``loss`` unchanged with one replica).

    loss: the mean over this replica's ``num_terms`` terms (e.g. active triplets). With
    ``num_terms`` the share is ``loss · num_terms / Σ num_terms`` (a weighted mean over replicas);
    without, ``loss / R`` (replicas with equal numbers of terms).
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return loss
    if num_terms is None:
        return loss / tf.cast(context.num_replicas_in_sync, loss.dtype)
    local = tf.stop_gradient(tf.cast(num_terms, loss.dtype))
    total = context.all_reduce(tf.distribute.ReduceOp.SUM, local)
    return loss * local / tf.maximum(total, 1.0)
