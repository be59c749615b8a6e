"""The workflow on object storage: inputs and outputs in an S3 bucket through Snakemake's own
storage plugin (snakemake-storage-plugin-s3), against a local S3 server (moto) on 127.0.0.1.

One tiny run writes the flow stores and the vorticity store (Zarr directory() outputs) to the
bucket; the tests check what it left there, that reruns redo exactly what changed, that a
store in the bucket opens lazily with xarray, and that the whole default workflow runs there (docs/storage.md).
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

import boto3
import dask.array
import numpy as np
import pytest
import s3fs
import xarray as xr
from conftest import REPO, TINY_CONFIG, TINY_DUFFING, planned, small_config, snakemake, write_config
from moto.server import ThreadedMotoServer
from test_reruns import copy_of

from karman.check import violations
from karman.stores import open_store
from karman.vortex.store import VORTICITY

pytestmark = [pytest.mark.storage, pytest.mark.workflow]

# Dummy credentials: every request goes to the local server, none to AWS.
KEY, SECRET, REGION = "karman-test-key", "karman-test-secret", "us-east-1"
BUCKET = "karman-results"
PREFIX = "runs/tiny"  # the run's results/ and logs/ go under s3://karman-results/runs/tiny/
STORAGE_CONFIG = small_config("ridge")
# The default target on the bucket: both systems, a model each, two forecasters and the report.
WHOLE_CONFIG = STORAGE_CONFIG | {
    "systems": ["vortex", "duffing"],
    "duffing": TINY_DUFFING | {"models": {"ridge": {"type": "ridge"}}},
    "forecast": TINY_CONFIG["forecast"] | {"models": {"persistence": {"type": "persistence"}, "ridge": {"type": "ridge", "rank": 4}}},
}
STORE = "results/fields/vorticity.zarr"  # the cheapest target with Zarr directory() outputs: the flows and the vorticity


@dataclass(frozen=True)
class Bucket:
    """The bucket on the local S3 server."""

    endpoint: str

    @property
    def prefix(self) -> str:
        return f"s3://{BUCKET}/{PREFIX}"

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name=REGION)

    def keys(self, under: str = "") -> set[str]:
        """The keys in the bucket that start with `under`."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=under)
        return {entry["Key"] for page in pages for entry in page.get("Contents", [])}

    def storage_options(self) -> dict:
        """What xarray passes to s3fs to reach the bucket."""
        return {"endpoint_url": self.endpoint, "key": KEY, "secret": SECRET, "client_kwargs": {"region_name": REGION}}

    def on_s3(self, *targets: str) -> list[str]:
        """Snakemake's arguments for `targets` with every input and output in the bucket. The
        targets come first: each --storage-s3-* option takes one or more values, and would
        swallow targets that follow it."""
        return [*targets, "--default-storage-provider", "s3", "--default-storage-prefix", self.prefix,
                "--storage-s3-endpoint-url", self.endpoint, "--storage-s3-access-key", KEY, "--storage-s3-secret-key", SECRET]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A local S3 server on the loopback address with an empty bucket, and an environment in
    which nothing can reach AWS: dummy keys, no AWS configuration or profile, no proxy."""
    aws_home = tmp_path_factory.mktemp("aws")
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(("AWS_", "SNAKEMAKE_STORAGE_S3_")):
                patch.delenv(name)
        for name, value in {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": REGION,
                            "AWS_CONFIG_FILE": str(aws_home / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(aws_home / "credentials"),
                            "AWS_EC2_METADATA_DISABLED": "true", "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}.items():
            patch.setenv(name, value)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            bucket = Bucket(f"http://{host}:{port}")
            bucket.client().create_bucket(Bucket=BUCKET)
            yield bucket
        finally:
            server.stop()


@pytest.fixture(scope="module")
def base(s3, tmp_path_factory):
    """A working directory whose run wrote the flow stores and the vorticity store to the bucket."""
    workdir = tmp_path_factory.mktemp("storage")
    write_config(workdir, STORAGE_CONFIG)
    snakemake(workdir, "--cores", "2", *s3.on_s3(STORE))
    return workdir


def changed(change) -> dict:
    config = json.loads(json.dumps(STORAGE_CONFIG))
    change(config)
    return config


def download(s3, key_prefix: str, target: Path) -> Path:
    """Every object under `key_prefix` (a store) copied as it is into `target`."""
    client = s3.client()
    for key in s3.keys(f"{key_prefix}/"):
        path = target / key.removeprefix(f"{key_prefix}/")
        path.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(BUCKET, key, str(path))
    return target


def test_the_stores_and_logs_are_in_the_bucket_and_nothing_in_the_working_directory(s3, base):
    keys = s3.keys()
    assert keys and all(key.startswith(f"{PREFIX}/") for key in keys)
    for store in ("results/flow/re00150.zarr", "results/flow/re00300.zarr", STORE):
        assert f"{PREFIX}/{store}/zarr.json" in keys
    assert {f"{PREFIX}/{STORE}/vorticity/zarr.json", f"{PREFIX}/{STORE}/reynolds/zarr.json"} <= keys
    assert any(key.startswith(f"{PREFIX}/{STORE}/vorticity/c/") for key in keys)  # the chunks
    assert {f"{PREFIX}/logs/compute_vorticity.log", f"{PREFIX}/logs/simulate_flow/re00150.log"} <= keys  # logs go too
    assert not any(".partial-" in key for key in keys)  # written whole, renamed, then uploaded
    assert not (base / "results").exists() and not (base / "logs").exists()


def test_nothing_changed_nothing_to_do(s3, base):
    assert planned(base, *s3.on_s3(STORE)) == {}


def test_the_profile_reaches_the_same_outputs(s3, base):
    env = {**os.environ, "KARMAN_STORAGE_PREFIX": s3.prefix, "SNAKEMAKE_STORAGE_S3_ENDPOINT_URL": s3.endpoint,
           "SNAKEMAKE_STORAGE_S3_ACCESS_KEY": KEY, "SNAKEMAKE_STORAGE_S3_SECRET_KEY": SECRET}
    assert planned(base, "--profile", str(REPO / "profiles/s3"), STORE, env=env) == {}


@pytest.mark.parametrize(("change", "expected"), [
    (lambda c: c["fields"]["crop"].update(x=[0.0, 4.0]), {"compute_vorticity": 1}),
    (lambda c: c["flow"].update(spinup_time=10), {"simulate_flow": 2, "compute_vorticity": 1}),
], ids=["a crop: the vorticity only", "a flow setting: the simulations and the vorticity"])
def test_one_config_value_reruns_exactly_what_it_affects(s3, base, tmp_path, change, expected):
    run = copy_of(base, tmp_path)
    write_config(run, changed(change))
    assert planned(run, *s3.on_s3(STORE)) == expected


def test_a_rerun_replaces_the_store_in_the_bucket_whole(s3, base, tmp_path):
    run = copy_of(base, tmp_path)
    write_config(run, changed(lambda c: c["fields"].update(sample_chunk=12)))  # 24 samples: 5 chunks become 2
    assert planned(run, *s3.on_s3(STORE)) == {"compute_vorticity": 1}
    snakemake(run, "--cores", "2", *s3.on_s3(STORE))
    chunks = s3.keys(f"{PREFIX}/{STORE}/vorticity/c/")
    assert chunks == {f"{PREFIX}/{STORE}/vorticity/c/{index}/0/0" for index in (0, 1)}  # none of the old five left
    assert planned(run, *s3.on_s3(STORE)) == {}


def test_a_killed_jobs_partial_store_beside_the_local_copy_is_removed(s3, base, tmp_path):
    run = copy_of(base, tmp_path)
    # Jobs write into the local copies under .snakemake/storage/s3/<bucket>/<prefix>/: that is
    # where a killed job's partial store stays, and what the job that writes the store next clears.
    local_copies = run / ".snakemake/storage/s3" / BUCKET / PREFIX
    partial = local_copies / "results/fields/.vorticity.zarr.partial-0badf00d"
    partial.mkdir(parents=True)
    (partial / "zarr.json").write_text("{}")
    write_config(run, changed(lambda c: c["fields"]["crop"].update(x=[0.0, 4.0])))
    result = snakemake(run, "--cores", "2", *s3.on_s3(STORE))
    assert not partial.exists()
    assert "karman: removed 1 partial output of an interrupted run" in result.stdout + result.stderr


def test_the_split_and_the_gallery_run_on_the_bucket(s3, base, tmp_path):
    run = copy_of(base, tmp_path)
    snakemake(run, "--cores", "2", *s3.on_s3("results/split/summary.json", "results/fields/gallery.png"))
    assert {f"{PREFIX}/results/split/assignment.csv", f"{PREFIX}/results/split/summary.json",
            f"{PREFIX}/results/fields/gallery.png"} <= s3.keys()


def test_the_default_workflow_completes_on_the_bucket_and_then_has_nothing_to_do(s3, base, tmp_path):
    """Every kind of rule on the bucket: models of both systems, forecasters, their figures, the report."""
    run = copy_of(base, tmp_path)
    write_config(run, WHOLE_CONFIG)
    snakemake(run, "--cores", "2", *s3.on_s3())
    keys = s3.keys()
    for output in ("results/report/index.html", "results/models/ridge/metrics.json", "results/duffing/models/ridge/metrics.json",
                   "results/forecast/ridge/rollout.zarr/zarr.json", "results/forecast/persistence/metrics.json"):
        assert f"{PREFIX}/{output}" in keys, output
    assert planned(run, *s3.on_s3()) == {}
    assert not (run / "results").exists()


def test_a_store_in_the_bucket_opens_lazily_with_xarray(s3, base, tmp_path):
    local = open_store(download(s3, f"{PREFIX}/{STORE}", tmp_path / "vorticity.zarr"))
    assert violations(tmp_path / "vorticity.zarr", VORTICITY, deep=True) == []
    remote = xr.open_zarr(f"{s3.prefix}/{STORE}", storage_options=s3.storage_options())
    assert isinstance(remote["vorticity"].data, dask.array.Array)  # lazy: chunks are read when computed
    assert remote["vorticity"].chunks == local["vorticity"].chunks
    np.testing.assert_array_equal(remote["vorticity"].values, local["vorticity"].values)
    np.testing.assert_array_equal(remote["reynolds"].values, local["reynolds"].values)
    assert remote.attrs == local.attrs


def test_a_published_local_store_opens_lazily_with_xarray(s3, base, tmp_path):
    local_path = download(s3, f"{PREFIX}/{STORE}", tmp_path / "vorticity.zarr")
    fs = s3fs.S3FileSystem(**s3.storage_options())
    for _ in range(2):  # published again: replaced in place (the trailing slashes), not nested inside the first copy
        fs.put(f"{local_path}/", f"{BUCKET}/published/vorticity.zarr/", recursive=True)
    keys = s3.keys("published/")
    assert "published/vorticity.zarr/zarr.json" in keys and not any("vorticity.zarr/vorticity.zarr" in key for key in keys)
    remote = xr.open_zarr(f"s3://{BUCKET}/published/vorticity.zarr", storage_options=s3.storage_options())
    assert isinstance(remote["vorticity"].data, dask.array.Array)
    np.testing.assert_array_equal(remote["vorticity"].values, open_store(local_path)["vorticity"].values)
