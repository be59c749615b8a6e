"""The `split` stage: assign every sample to train, val or test, reproducibly.

Strategies:
- `random`: shuffled samples, as in the course notebooks. Consecutive snapshots of a
  periodic wake are nearly identical, so this split leaks: test samples have twins in train.
- `blocked`: each Reynolds number's time series is cut into contiguous blocks, whole blocks
  are assigned to splits, and `gap` snapshots are dropped (split `gap`) wherever two
  blocks of different splits meet, so that correlated neighbours never straddle them.
- `holdout-re`: whole Reynolds numbers are the test split: named ones, every n-th of the
  interior (interpolation to an unseen Re) or the highest or lowest (extrapolation); the
  others are cut into train and val, shuffled or in time blocks with gaps.

`blocked` and `holdout-re` work on the groups a store declares (`karman.stores.declaration`);
independent samples (the Duffing oscillator's) take the random split, optionally with
fewer training samples (`train_samples`).
"""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pandas as pd

from karman.atomic import write_text_whole, written_whole
from karman.stores import declaration, open_store

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
GAP = "gap"
UNUSED = "unused"  # training samples left out by `train_samples` (the small-data case)


def check_fractions(fractions: dict[str, float]) -> None:
    total = sum(fractions[name] for name in SPLITS)
    if not np.isclose(total, 1.0):
        raise ValueError(f"split.fractions must add up to 1, got {total:g} ({fractions})")


def cut(order: np.ndarray, shares: dict[str, float]) -> dict[str, np.ndarray]:
    """Cut `order` into consecutive parts by the (normalised) shares; the last part takes the rest."""
    names = [name for name in shares if shares[name] > 0]
    total = sum(shares[name] for name in names)
    parts, start = {}, 0
    for i, name in enumerate(names):
        stop = len(order) if i == len(names) - 1 else start + int(round(shares[name] / total * len(order)))
        parts[name] = order[start:stop]
        start = stop
    return parts


def label(n_samples: int, parts: dict[str, np.ndarray]) -> np.ndarray:
    labels = np.full(n_samples, GAP, dtype=object)
    for name, members in parts.items():
        labels[members] = name
    return labels


def random_split(n_samples: int, fractions: dict[str, float], seed: int, train_samples: int | None = None) -> np.ndarray:
    """Shuffle sample indices with `seed` and cut them by the train/val/test fractions.

    With `train_samples`, only the first that many training samples (in shuffled order)
    are used for training and the rest are marked `unused`; val and test stay exactly as
    without it, so a small-data model is measured on the same samples as a full one.
    """
    check_fractions(fractions)
    order = np.random.default_rng(seed).permutation(n_samples)
    parts = cut(order, {name: fractions[name] for name in SPLITS})
    if train_samples is not None:
        if not 1 <= train_samples <= len(parts["train"]):
            raise ValueError(f"split.train_samples = {train_samples} must be between 1 and the {len(parts['train'])} samples of the train split")
        parts[UNUSED] = parts["train"][train_samples:]
        parts["train"] = parts["train"][:train_samples]
    return label(n_samples, parts)


def blocked_split(samples: pd.DataFrame, fractions: dict[str, float], seed: int, blocks: int, gap: int, grouping: str) -> np.ndarray:
    """Contiguous time blocks per group (per Reynolds number), whole blocks to splits, gaps between splits."""
    check_fractions(fractions)
    rng = np.random.default_rng(seed)
    labels = np.full(len(samples), GAP, dtype=object)
    for value, group in samples.groupby(grouping, sort=True):
        series = group.sort_values("time").index.to_numpy()
        if len(series) < blocks:
            raise ValueError(f"split.blocks = {blocks} is more than the {len(series)} snapshots of {grouping} = {value:g}")
        chunks = np.array_split(series, blocks)
        block_labels = label(blocks, cut(rng.permutation(blocks), {name: fractions[name] for name in SPLITS}))
        for i, (members, name) in enumerate(zip(chunks, block_labels)):
            labels[members] = name
            if i > 0 and block_labels[i - 1] != name:
                labels[members[:gap]] = GAP  # drop the first snapshots after a change of split
    return labels


def held_out_groups(values, settings: dict) -> list[float]:
    """The groups (Reynolds numbers) that `holdout-re` holds out of the sorted `values`: those in
    `holdout_reynolds`, every `holdout_every`-th from the second on without the last (interior
    ones: a test of interpolation), and the `holdout_top` highest and `holdout_bottom` lowest
    (a test of extrapolation)."""
    values = sorted(set(float(value) for value in values))
    held = {float(value) for value in settings.get("holdout_reynolds", [])}
    every = settings.get("holdout_every", 0)
    if every:
        held |= set(values[1:-1:every])
    top, bottom = settings.get("holdout_top", 0), settings.get("holdout_bottom", 0)
    held |= set(values[len(values) - top:] if top else []) | set(values[:bottom])
    return sorted(held)


def check_holdout(values, settings: dict, grouping: str = "reynolds") -> list[float]:
    """The held-out groups, checked: at least one, only values in the data, and at least two left to train on."""
    present = sorted(set(float(value) for value in values))
    held = held_out_groups(present, settings)
    missing = sorted(set(held) - set(present))
    kept = sorted(set(present) - set(held))

    def listed(numbers) -> str:
        return "[" + ", ".join(f"{number:g}" for number in numbers) + "]"

    if not held or missing or len(kept) < 2:
        raise ValueError(
            f"split.holdout_reynolds, holdout_every, holdout_top and holdout_bottom hold out {listed(held)} of the values of "
            f"{grouping} {listed(present)}" + (f", of which {listed(missing)} are not in the data" if missing else "")
            + f"; holdout-re needs at least one held out and at least two left to train on (left: {listed(kept)})"
        )
    return held


def holdout_split(samples: pd.DataFrame, settings: dict, grouping: str) -> np.ndarray:
    """Held-out groups are the test split; the others are cut into train and val, shuffled
    (`val: random`) or in time blocks with gaps (`val: blocked`, as the blocked split)."""
    held_out = samples[grouping].isin(check_holdout(samples[grouping], settings, grouping)).to_numpy()
    fractions, seed = settings["fractions"], settings["seed"]
    kept = np.flatnonzero(~held_out)
    if settings.get("val", "random") == "blocked":
        total = fractions["train"] + fractions["val"]
        shares = {"train": fractions["train"] / total, "val": fractions["val"] / total, "test": 0.0}
        labels = np.full(len(samples), "test", dtype=object)
        labels[kept] = blocked_split(samples.iloc[kept].reset_index(drop=True), shares, seed, settings["blocks"], settings["gap"], grouping)
        return labels
    parts = cut(kept[np.random.default_rng(seed).permutation(len(kept))], {"train": fractions["train"], "val": fractions["val"]})
    return label(len(samples), parts | {"test": np.flatnonzero(held_out)})


HOLDOUT_KEYS = ("holdout_reynolds", "holdout_every", "holdout_top", "holdout_bottom", "val")
STRATEGY_KEYS = {"random": (), "blocked": ("blocks", "gap"), "holdout-re": HOLDOUT_KEYS}


def settings_for(split_config: dict, strategy: str) -> dict:
    """The keys of the config's `split` section that a split with `strategy` depends on.

    Used as the split rules' params, so that a key another strategy reads (or the list of
    compared strategies) does not rerun this split and everything after it.
    """
    keys = ("fractions", "seed", *STRATEGY_KEYS[strategy])
    if strategy == "holdout-re" and split_config["val"] == "blocked":
        keys += STRATEGY_KEYS["blocked"]
    return {"strategy": strategy, **{key: split_config[key] for key in keys}}


def assign(samples: pd.DataFrame, settings: dict, grouping: str | None = None) -> pd.DataFrame:
    """Add a `split` column to a table of samples (column sample, and the `grouping` column
    and time where the samples have them).

    `settings` is a system's `split` section: strategy, fractions, seed and, for the
    strategies that use them, train_samples, blocks, gap and holdout_reynolds. `blocked`
    and `holdout-re` need a grouping.
    """
    strategy, fractions, seed = settings["strategy"], settings["fractions"], settings["seed"]
    samples = samples.reset_index(drop=True)
    if strategy not in STRATEGY_KEYS:
        raise ValueError(f"split.strategy {strategy!r} is not supported; allowed: {', '.join(STRATEGY_KEYS)}")
    if strategy != "random" and grouping is None:
        raise ValueError(f"split.strategy {strategy} needs samples grouped by a coordinate (as the vortex street's by Re); "
                         "these samples are independent: use random")
    if strategy == "random":
        labels = random_split(len(samples), fractions, seed, settings.get("train_samples"))
    elif strategy == "blocked":
        labels = blocked_split(samples, fractions, seed, settings["blocks"], settings["gap"], grouping)
    else:
        labels = holdout_split(samples, settings, grouping)
    return samples.assign(split=labels)


def counts_per_group(summary: dict) -> dict[str, dict[str, int]]:
    """The summary's counts per group (per Reynolds number) in ascending order (its JSON
    keeps them under sorted string keys, which puts "1200" before "300")."""
    key = next(key for key in summary if key.startswith("counts_per_"))
    return dict(sorted(summary[key].items(), key=lambda item: float(item[0])))


def summarize(assignment: pd.DataFrame, settings: dict, grouping: str | None = None) -> dict:
    """Counts per split and, for grouped samples, per group per split.

    Grouped samples count the gaps the blocked split drops; a split with `train_samples`
    counts the training samples it leaves unused.
    """
    names = [*SPLITS, *([GAP] if grouping else []), *([UNUSED] if "train_samples" in settings else [])]
    summary = {
        **settings,
        "n_samples": len(assignment),
        "counts": {name: int((assignment["split"] == name).sum()) for name in names},
    }
    if grouping:
        per_group = assignment.groupby([grouping, "split"]).size().unstack(fill_value=0).reindex(columns=names, fill_value=0)
        summary[f"counts_per_{grouping}"] = {f"{value:g}": {name: int(row[name]) for name in names} for value, row in per_group.iterrows()}
    return summary


def write_split(store_path: str | os.PathLike, assignment_csv: str | os.PathLike, summary_json: str | os.PathLike, *, settings: dict) -> None:
    """The `split` stage: read the store's declared samples and grouping (not the data) and write the split."""
    store = open_store(store_path)
    grouping = declaration(store).grouping
    columns = ["sample", *([grouping] if grouping else []), *(["time"] if "time" in store.coords and store["time"].dims == ("sample",) else [])]
    assignment = assign(pd.DataFrame({name: store[name].values for name in columns}), settings, grouping)
    summary = summarize(assignment, settings, grouping)
    log.info("split %s of %s (seed %d): %s", settings["strategy"], os.fspath(store_path), settings["seed"], summary["counts"])
    with written_whole(assignment_csv) as partial:
        assignment.to_csv(partial, index=False)
    write_text_whole(summary_json, json.dumps(summary, indent=2, sort_keys=True))
