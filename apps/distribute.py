"""Training beyond one device: ``TF_CONFIG``, multi-worker strategy, per-worker folders.

``--strategy multiworker`` trains one model synchronously over several
processes (hosts), each started with the same command and its own
``TF_CONFIG``. Every worker runs the same Keras callbacks at the same moments
(saving can involve collective ops), but only the chief writes where others
look: the run's work folder and the published ``models/<app>/``. Other
workers keep their backups and checkpoints in a folder of their own (the
pattern of the Keras multi-worker guide) and restore from the chief's backup,
so a restarted cluster resumes from one agreed state.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from apps.errors import GlasswingError

TF_CONFIG_HELP = (
    'TF_CONFIG must be JSON like {"cluster": {"worker": ["host1:port", "host2:port"]}, '
    '"task": {"type": "worker", "index": 0}}, the same cluster on every host and each '
    "host's own task index."
)


@dataclasses.dataclass(frozen=True)
class Worker:
    """This process's place in the cluster described by ``TF_CONFIG``."""

    task_type: str
    index: int
    count: int
    has_chief: bool = False

    @property
    def is_chief(self) -> bool:
        """The chief writes the shared work folder and publishes the artifacts.

        TensorFlow's rule: the ``chief`` task, or worker 0 when there is none.
        """
        return self.task_type == "chief" or (
            self.task_type == "worker" and self.index == 0 and not self.has_chief
        )

    @property
    def name(self) -> str:
        """``worker-1`` etc.: names this worker's own folder."""
        return f"{self.task_type}-{self.index}"


def read_tf_config(environ=None) -> Worker:
    """Parses and checks ``TF_CONFIG`` from the environment.

    Raises:
        GlasswingError: It is missing or malformed; the message names the problem.
    """
    raw = (os.environ if environ is None else environ).get("TF_CONFIG", "")
    if not raw.strip():
        raise GlasswingError(
            f"--strategy multiworker needs the TF_CONFIG environment variable. {TF_CONFIG_HELP}"
        )
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as err:
        raise GlasswingError(f"TF_CONFIG is not valid JSON ({err}). {TF_CONFIG_HELP}") from None
    if not isinstance(config, dict):
        raise GlasswingError(
            f"TF_CONFIG must be a JSON object, got {type(config).__name__}. {TF_CONFIG_HELP}"
        )
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise GlasswingError(f"TF_CONFIG has no 'cluster' object. {TF_CONFIG_HELP}")
    for role, addresses in cluster.items():
        if not isinstance(addresses, list) or not all(
            isinstance(a, str) and a.rpartition(":")[2].isdigit() for a in addresses
        ):
            raise GlasswingError(
                f"TF_CONFIG cluster[{role!r}] must be a list of 'host:port' strings, got {addresses!r}."
            )
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise GlasswingError(f"TF_CONFIG has no 'task' with 'type' and 'index'. {TF_CONFIG_HELP}")
    task_type, index = task["type"], task["index"]
    if task_type not in ("chief", "worker") or task_type not in cluster:
        raise GlasswingError(
            f"TF_CONFIG task type {task_type!r} is not a 'chief' or 'worker' role of the cluster "
            f"(roles: {sorted(cluster)})."
        )
    if not isinstance(index, int) or not 0 <= index < len(cluster[task_type]):
        raise GlasswingError(
            f"TF_CONFIG task index {index!r} is out of range for cluster[{task_type!r}] "
            f"({len(cluster[task_type])} addresses)."
        )
    count = sum(len(cluster.get(role, [])) for role in ("chief", "worker"))
    return Worker(task_type, index, count, has_chief=bool(cluster.get("chief")))


def multiworker_strategy() -> tuple[tf.distribute.Strategy, Worker]:
    """Creates ``MultiWorkerMirroredStrategy`` from ``TF_CONFIG``.

    Must run before any other TensorFlow op in the process (collective ops are
    configured at start-up). Blocks until every worker of the cluster is up.
    """
    worker = read_tf_config()
    print(
        f"Multi-worker: this is {worker.name} of {worker.count}"
        f"{' (chief)' if worker.is_chief else ''}; waiting for the cluster ...",
        flush=True,
    )
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    _patch_keras_for_multiworker()
    return strategy, worker


def shard_by_data(ds: tf.data.Dataset) -> tf.data.Dataset:
    """Shards a batched dataset over workers by element (not by file).

    Each worker runs the whole pipeline (same seeded shuffle) and keeps its
    part of every global batch of ``cfg.batch_size``: file-based sharding
    would fail on datasets stored in fewer files than there are workers.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def worker_dir(work: Path, worker: Worker) -> Path:
    """The chief works in ``work``; any other worker in a sibling folder of its own."""
    return work if worker.is_chief else work.with_name(f"{work.name}.{worker.name}")


class SharedBackupAndRestore(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` that writes to ``backup_dir`` but restores from ``restore_dir``.

    Non-chief workers write their own backup (every worker must save at the
    same moment) yet all restore the chief's, so after a restart the cluster
    resumes from one state. The restored epoch is checked across workers:
    when they disagree (no shared filesystem, or a worker died between two
    workers' saves) training stops with a clear error instead of hanging.
    """

    def __init__(self, backup_dir, restore_dir=None, strategy=None, **kwargs):
        super().__init__(str(backup_dir), **kwargs)
        self.restore_dir = str(restore_dir or backup_dir)
        self.strategy = strategy

    def on_train_begin(self, logs=None):
        own = (self._weights_path, self._training_metadata_path)
        self._weights_path = os.path.join(self.restore_dir, "latest.weights.h5")
        self._training_metadata_path = os.path.join(self.restore_dir, "training_metadata.json")
        try:
            super().on_train_begin(logs)
        finally:
            self._weights_path, self._training_metadata_path = own
        if self.strategy is not None:
            _check_same_epoch(self.strategy, int(getattr(self.model, "_initial_epoch", None) or 0))


class SyncNonTrainable(keras.callbacks.Callback):
    """Averages non-trainable float weights (BatchNorm statistics) over workers.

    Gradients are all-reduced, so trainable weights stay identical everywhere;
    Keras 3 creates BatchNorm's moving mean/variance with aggregation "none",
    so each worker would otherwise keep statistics of its own shard only.
    Averaging before validation and at each epoch's end (before the backup)
    makes every worker validate, back up and publish the same model. One
    collective per call: every worker runs it at the same moments.
    """

    def __init__(self, strategy):
        super().__init__()
        self.strategy = strategy

    def _sync(self):
        variables = [v for v in self.model.non_trainable_weights if "float" in str(v.dtype)]
        if not variables:
            return
        flat = tf.concat([tf.reshape(tf.cast(v.value, tf.float32), [-1]) for v in variables], 0)
        values = self.strategy.experimental_distribute_values_from_function(lambda _: flat)
        mean = self.strategy.reduce("MEAN", values, axis=None)
        offset = 0
        for v in variables:
            size = int(np.prod(v.shape))
            v.assign(tf.cast(tf.reshape(mean[offset : offset + size], v.shape), v.dtype))
            offset += size

    def on_test_begin(self, logs=None):
        self._sync()

    def on_epoch_end(self, epoch, logs=None):
        self._sync()


def _check_same_epoch(strategy, epoch: int) -> None:
    """Raises unless every worker restored the same epoch (a collective: all must call it)."""

    n = strategy.num_replicas_in_sync
    values = strategy.experimental_distribute_values_from_function(lambda _: tf.constant(float(epoch)))
    summed = float(strategy.reduce("SUM", values, axis=None))
    if summed != epoch * n:
        raise GlasswingError(
            f"Workers restored different epochs (this one {epoch}, mean {summed / n:g}). "
            "Resuming needs the chief's backup readable by every worker: put --models-dir on a "
            "shared filesystem, or delete the .partial work folders to start over."
        )


_PATCHED = False


def _patch_keras_for_multiworker() -> None:
    """Works around two Keras 3 bugs with ``MultiWorkerMirroredStrategy`` in ``fit``.

    keras-team/keras#20585 (open): ``fit`` reduces a whole input batch across
    workers just to learn its shapes, and reduces scalar metrics with
    ``axis=0``; both raise. The replacements take the local batch for the
    symbolic build and mean-reduce scalars across all replicas (``axis=None``),
    so every worker logs the same numbers. Other strategies are unaffected.
    """
    global _PATCHED
    if _PATCHED:
        return
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original_reduce = tf_trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(strategy):
            return tf.nest.map_structure(
                lambda v: strategy.reduce("MEAN", v, axis=None if v.shape.rank == 0 else 0), values
            )
        return original_reduce(values, strategy, reduction)

    original_build = tf_trainer.TensorFlowTrainer._maybe_symbolic_build

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if iterator is None or not tf_trainer._collective_all_reduce_multi_worker(strategy):
            return original_build(self, iterator=iterator, data_batch=data_batch)
        for _, _, it in iterator:
            batch = next(it)
            data_batch = tf.nest.map_structure(
                lambda v: (
                    strategy.experimental_local_results(v)[0]
                    if isinstance(v, tf.distribute.DistributedValues)
                    else v
                ),
                batch,
            )
            break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    tf_trainer.reduce_per_replica = reduce_per_replica
    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    _PATCHED = True
