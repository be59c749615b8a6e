"""Read karman's export of The Well's layout with the `the-well` package itself.

Run by tests/vortex/test_the_well.py in an environment of its own (the-well pins an old
fsspec and needs torch, so it stays out of karman's lock):

    uv run --isolated --no-project --with the-well==1.2.0 python tests/vortex/the_well_reader.py EXPORT REQUEST.npz ANSWER.npz

For every split and normalisation (none, ZScore, RMS), it loads `WellDataset(path=EXPORT,
well_split_name=…, n_steps_input=4, n_steps_output=1)` and saves the first and the last
sample with where they come from; and it scores the request's `prediction` against its
`truth` with the_well's own VRMSE.
"""

import sys

import numpy as np
import torch
from the_well.benchmark.metrics import VRMSE
from the_well.data import WellDataset
from the_well.data.normalization import RMSNormalization, ZScoreNormalization

NORMALISATIONS = {"none": None, "zscore": ZScoreNormalization, "rms": RMSNormalization}


def main(export: str, request_path: str, answer_path: str) -> None:
    answer = {}
    metadata = None
    for split in ("train", "valid", "test"):
        for name, normalisation in NORMALISATIONS.items():
            dataset = WellDataset(path=export, well_split_name=split, n_steps_input=4, n_steps_output=1,
                                  use_normalization=normalisation is not None, normalization_type=normalisation)
            metadata = dataset.metadata
            for end, index in (("first", 0), ("last", len(dataset) - 1)):
                sample = dataset[index]
                for key, value in sample.items():
                    answer[f"{split}/{name}/{end}/{key}"] = value.numpy()
            answer[f"{split}/files"] = np.array([path.rsplit("/", 1)[-1] for path in dataset.files_paths])
            answer[f"{split}/windows"] = np.array(dataset.n_windows_per_trajectory)
            answer[f"{split}/constant_scalar_names"] = np.array(metadata.constant_scalar_names)
            answer[f"{split}/field_names"] = np.array([name for names in metadata.field_names.values() for name in names])
    request = np.load(request_path)
    # (time, y, x) → the_well's (time, x, y, channel)
    truth, prediction = (torch.from_numpy(request[key][..., np.newaxis]) for key in ("truth", "prediction"))
    answer["vrmse"] = VRMSE.eval(prediction, truth, metadata).numpy()[..., 0]
    np.savez(answer_path, **answer)


if __name__ == "__main__":
    main(*sys.argv[1:])
