"""The examples of docs/data-format.md that stream karman's stores into training without
karman (xarray + Dask, tf.data), run as they are written in a project where the workflow ran.
The PyTorch example, which needs the-well's own environment, runs in tests/vortex/test_the_well.py."""

import subprocess
import sys

import pandas as pd
import pytest
from conftest import doc_example

pytestmark = pytest.mark.workflow


def run_example(name: str, workdir) -> str:
    result = subprocess.run([sys.executable, "-c", doc_example("data-format.md", name)], cwd=workdir, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_the_xarray_example_streams_the_training_snapshots(tiny_run):
    split = pd.read_csv(tiny_run / "results/split/assignment.csv")
    output = run_example("xarray", tiny_run)
    assert f"{(split['split'] == 'train').sum()} training snapshots of 12 x 15 cells" in output


def test_the_tf_data_example_yields_batches_of_snapshots(tiny_run):
    train = (pd.read_csv(tiny_run / "results/split/assignment.csv")["split"] == "train").sum()
    output = run_example("tf.data", tiny_run)
    assert f"a batch of {min(32, train)} snapshots of shape (12, 15, 1)" in output
