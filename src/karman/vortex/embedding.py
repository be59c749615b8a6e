"""A 2-component PCA embedding of the training snapshots, fitted incrementally."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from sklearn.decomposition import IncrementalPCA

from karman.atomic import written_whole
from karman.loader import SnapshotBatches
from karman.stores import open_store


def embed_training_snapshots(vorticity_path: str | os.PathLike, assignment_csv: str | os.PathLike, output_csv: str | os.PathLike,
                             batch_size: int = 256) -> pd.DataFrame:
    """Fit IncrementalPCA on the training snapshots batch by batch (never all in memory),
    then project them; writes sample, reynolds, pc1, pc2 and the explained variance ratios."""
    field = open_store(vorticity_path)["vorticity"]
    assignment = pd.read_csv(assignment_csv)
    train = assignment.loc[assignment["split"] == "train", "sample"].to_numpy()
    batches = SnapshotBatches(field, train, np.zeros(len(train)), batch_size, flatten=True)
    pca = IncrementalPCA(n_components=2)
    for i in range(len(batches)):
        snapshots = batches[i][0]
        if len(snapshots) >= 2:  # a last batch of one sample cannot update the fit
            pca.partial_fit(snapshots)
    projected = np.concatenate([pca.transform(batches[i][0]) for i in range(len(batches))])
    embedding = pd.DataFrame({
        "sample": train,
        "reynolds": assignment.set_index("sample").loc[train, "reynolds"].to_numpy(),
        "pc1": projected[:, 0],
        "pc2": projected[:, 1],
    })
    with written_whole(output_csv) as partial, open(partial, "w") as handle:
        ratios = ", ".join(f"{r:.4f}" for r in pca.explained_variance_ratio_)
        handle.write(f"# explained variance ratio: {ratios}\n")
        embedding.to_csv(handle, index=False)
    return embedding
