"""The `split` stage: assign every sample to train, val or test, reproducibly."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pandas as pd

from karman.stores import open_store

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


def check_fractions(fractions: dict[str, float]) -> None:
    total = sum(fractions[name] for name in SPLITS)
    if not np.isclose(total, 1.0):
        raise ValueError(f"split.fractions must add up to 1, got {total:g} ({fractions})")


def random_split(n_samples: int, fractions: dict[str, float], seed: int) -> np.ndarray:
    """Shuffle sample indices with `seed` and cut them by the train/val/test fractions.

    Returns an array of split names, one per sample. Every sample lands in exactly one
    split; the test split takes what rounding leaves over.
    """
    check_fractions(fractions)
    order = np.random.default_rng(seed).permutation(n_samples)
    n_train = int(round(fractions["train"] * n_samples))
    n_val = int(round(fractions["val"] * n_samples))
    labels = np.empty(n_samples, dtype=object)
    labels[order[:n_train]] = "train"
    labels[order[n_train : n_train + n_val]] = "val"
    labels[order[n_train + n_val :]] = "test"
    return labels


def assign(samples: pd.DataFrame, strategy: str, fractions: dict[str, float], seed: int) -> pd.DataFrame:
    """Add a `split` column to a table of samples (columns sample, reynolds, time)."""
    if strategy != "random":
        raise ValueError(f"split.strategy {strategy!r} is not supported; allowed: 'random'")
    return samples.assign(split=random_split(len(samples), fractions, seed))


def summarize(assignment: pd.DataFrame, strategy: str, fractions: dict[str, float], seed: int) -> dict:
    """Counts per split and per Reynolds number per split."""
    per_re = assignment.groupby(["reynolds", "split"]).size().unstack(fill_value=0).reindex(columns=list(SPLITS), fill_value=0)
    return {
        "strategy": strategy,
        "fractions": fractions,
        "seed": seed,
        "n_samples": len(assignment),
        "counts": {name: int((assignment["split"] == name).sum()) for name in SPLITS},
        "counts_per_reynolds": {f"{re:g}": {name: int(row[name]) for name in SPLITS} for re, row in per_re.iterrows()},
    }


def write_split(vorticity_path: str | os.PathLike, assignment_csv: str | os.PathLike, summary_json: str | os.PathLike, *, strategy: str, fractions: dict[str, float], seed: int) -> None:
    """The `split` stage: read the sample coordinates (not the fields) and write the split."""
    store = open_store(vorticity_path)
    samples = pd.DataFrame({
        "sample": store["sample"].values,
        "reynolds": store["reynolds"].values,
        "time": store["time"].values,
    })
    assignment = assign(samples, strategy, fractions, seed)
    summary = summarize(assignment, strategy, fractions, seed)
    log.info("split %s (seed %d): %s", strategy, seed, summary["counts"])
    assignment.to_csv(assignment_csv, index=False)
    with open(summary_json, "w") as handle:
        json.dump(summary, handle, indent=2, sort_keys=True)
