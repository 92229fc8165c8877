"""Multi-worker training: TF_CONFIG checks, two real workers on localhost, kill and resume."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from apps.distribute import read_tf_config
from apps.errors import GlasswingError
from tests.conftest import ROOT

# Bounds that keep a hung cluster from hanging the suite.
WORKER_TIMEOUT_S = 150


def _free_ports(n: int) -> list[int]:
    """``n`` distinct free localhost ports (bound to port 0, then released)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _tf_config(ports: list[int], index: int) -> str:
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    return json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})


class Cluster:
    """Two ``glasswing train --strategy multiworker`` processes, each in its own process group."""

    def __init__(self, tmp_path: Path, args: list[str], weights_dir: Path | None = None):
        self.tmp_path, self.args, self.weights_dir = tmp_path, args, weights_dir
        self.procs: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    def start(self, tag: str) -> None:
        ports = _free_ports(2)
        self.procs, self.logs = [], []
        for index in range(2):
            env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CONFIG=_tf_config(ports, index))
            env.pop("GLASSWING_WORKER_WEIGHTS_DIR", None)
            if self.weights_dir is not None:
                env["GLASSWING_WORKER_WEIGHTS_DIR"] = str(self.weights_dir)
            log = self.tmp_path / f"{tag}-worker-{index}.log"
            self.logs.append(log)
            with open(log, "wb") as out:
                self.procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "apps.train", *self.args],
                        cwd=self.tmp_path,
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,  # its own process group: killable as a whole
                    )
                )

    def wait(self, timeout: float = WORKER_TIMEOUT_S) -> list[int]:
        deadline = time.time() + timeout
        for proc in self.procs:
            try:
                proc.wait(timeout=max(1.0, deadline - time.time()))
            except subprocess.TimeoutExpired:
                self.kill()
                pytest.fail(f"workers still running after {timeout:.0f} s\n{self.output()}")
        return [p.returncode for p in self.procs]

    def kill(self, index: int | None = None) -> None:
        for i, proc in enumerate(self.procs):
            if index in (None, i) and proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=30)

    def output(self, index: int | None = None) -> str:
        chosen = [index] if index is not None else range(len(self.logs))
        return "\n".join(
            f"--- {self.logs[i].name} ---\n{self.logs[i].read_text(errors='replace')}" for i in chosen
        )


@pytest.fixture
def cluster_factory(tmp_path):
    clusters = []

    def make(args, weights_dir=None):
        cluster = Cluster(tmp_path, args, weights_dir)
        clusters.append(cluster)
        return cluster

    yield make
    for cluster in clusters:  # never leave workers behind, whatever happened
        cluster.kill()


def _train_args(models: Path, data_dir: Path, *overrides: str) -> list[str]:
    args = ["image", "--tiny", "--strategy", "multiworker", "--models-dir", str(models)]
    for item in (f"data_dir={data_dir}", "patience=50", *overrides):
        args += ["--set", item]
    return args


def _h5_arrays(path: Path) -> dict[str, np.ndarray]:
    import h5py

    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, obj: arrays.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None
        )
    return arrays


def _history_epochs(path: Path) -> list[int]:
    with open(path, newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


@pytest.mark.parametrize(
    "raw, problem",
    [
        (None, "needs the TF_CONFIG environment variable"),
        ("{not json", "not valid JSON"),
        ('{"task": {"type": "worker", "index": 0}}', "no 'cluster'"),
        ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}', "'host:port'"),
        ('{"cluster": {"worker": ["a:1", "b:2"]}}', "no 'task'"),
        ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "ps", "index": 0}}', "task type 'ps'"),
        (
            '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}',
            "index 2 is out of range",
        ),
    ],
)
def test_bad_tf_config_is_a_clear_error(raw, problem):
    environ = {} if raw is None else {"TF_CONFIG": raw}
    with pytest.raises(GlasswingError, match=problem):
        read_tf_config(environ)


def test_tf_config_names_the_chief():
    two = {"cluster": {"worker": ["a:1", "b:2"]}}
    first = read_tf_config({"TF_CONFIG": json.dumps({**two, "task": {"type": "worker", "index": 0}})})
    second = read_tf_config({"TF_CONFIG": json.dumps({**two, "task": {"type": "worker", "index": 1}})})
    assert (first.is_chief, second.is_chief, first.count, second.name) == (True, False, 2, "worker-1")
    with_chief = {"cluster": {"chief": ["c:0"], "worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}
    worker = read_tf_config({"TF_CONFIG": json.dumps(with_chief)})
    assert not worker.is_chief and worker.count == 2


# ~12 s: in the slow set (CI runs it) to keep `make test` under 10 min on 2 cores.
@pytest.mark.slow
def test_two_workers_train_to_identical_weights(image_data_dir, tmp_path, cluster_factory):
    """Two worker processes on 127.0.0.1 train the tiny image config in step."""
    models, weights = tmp_path / "models", tmp_path / "weights"
    cluster = cluster_factory(_train_args(models, image_data_dir, "epochs=2"), weights_dir=weights)
    cluster.start("run")
    codes = cluster.wait()
    assert codes == [0, 0], cluster.output()
    first, second = _h5_arrays(weights / "worker-0.weights.h5"), _h5_arrays(weights / "worker-1.weights.h5")
    assert first.keys() == second.keys() and len(first) > 4
    for name in first:
        np.testing.assert_allclose(first[name], second[name], rtol=0, atol=1e-6, err_msg=name)
    # Only the chief published; the other worker cleaned up its own folder.
    assert _history_epochs(models / "image" / "history.csv") == [0, 1]
    assert json.loads((models / "image" / "config.json").read_text())["strategy"] == "multiworker"
    assert "2 replicas" in cluster.output(0) and "the chief publishes" in cluster.output(1)
    assert not list((models / ".partial").glob("*worker-1*"))


# Kills and restarts training processes (~45 s): with the slow tests, which CI runs too.
@pytest.mark.slow
def test_a_killed_worker_resumes_with_the_cluster(image_data_dir, tmp_path, cluster_factory):
    """SIGKILL one worker mid-run, restart both: they resume from the chief's backup."""
    epochs = 4
    models = tmp_path / "models"
    args = _train_args(models, image_data_dir, f"epochs={epochs}", "max_train_examples=400", "batch_size=8")
    cluster = cluster_factory(args)
    cluster.start("first")
    deadline, backed_up = time.time() + WORKER_TIMEOUT_S, 0
    while time.time() < deadline and all(p.poll() is None for p in cluster.procs):
        found = list(models.glob(".partial/image-*/backup/training_metadata.json"))
        if found:
            try:
                backed_up = json.loads(found[0].read_text())["epoch"]
            except (ValueError, KeyError):
                backed_up = 0  # caught mid-write
            if backed_up >= 1:
                break
        time.sleep(0.05)
    cluster.kill(1)  # the other worker now fails or waits forever on its peer
    time.sleep(0.5)
    cluster.kill(0)
    assert backed_up >= 1, "no backup after an epoch\n" + cluster.output()
    assert backed_up < epochs, "the run finished before it could be killed"
    assert not (models / "image").exists(), "a killed run must not publish an artifact"

    cluster.start("resumed")
    codes = cluster.wait()
    assert codes == [0, 0], cluster.output()
    for index in range(2):
        log = cluster.output(index)
        assert "Resuming interrupted run at epoch" in log, log
        resumed_at = int(log.split("Resuming interrupted run at epoch ")[1].split(".")[0])
        assert 2 <= resumed_at <= epochs, log
    assert _history_epochs(models / "image" / "history.csv") == list(range(epochs))
