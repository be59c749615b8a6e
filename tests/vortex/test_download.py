"""`flow.source: download`: download, verify, read and convert published flow data.

Nothing here reaches the internet: files are served by a local HTTP server from tmp_path.
"""

import collections
import functools
import hashlib
import http.server
import io
import json
import os
import pickle
import re
import socket
import threading
import zipfile

import numpy as np
import pytest
import xarray as xr

from karman.check import violations
from karman.vortex.store import FLOW
from karman.fetch import DownloadError, download
from karman.vortex.course_pickle import ArrayUnpickler, load_pickled_array
from karman.vortex.download import write_downloaded_flow
from karman.vortex.flow_files import expected_grid, read_fields
from karman.vortex.sweep import store_name
from karman.stores import open_store, quiet_zarr_warnings

from conftest import TINY_CONFIG, change_behaviour, library_copy, planned, small_config, snakemake, write_config

# A small grid in the course's layout: 24 x 12 cells, 2 cells per diameter, cylinder centre 3 D
# from the first column and row; velocities in "lattice units" with U = 0.05.
SETTINGS = {"format": "course", "diameter_cells": 2, "domain_length": 12, "domain_height": 6, "cylinder_x": 3,
            "cylinder_y": 3, "inflow_velocity": 0.05, "frame_interval": 0.0625}
NY, NX = 12, 24
SHEDDING = 0.2  # frequency of the probe signal, in U/D


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """(directory served, base URL) of an HTTP server on 127.0.0.1; missing files give 404."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    served = tmp_path / "www"
    served.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def sha256_of(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def velocities(frames: int) -> tuple[np.ndarray, np.ndarray]:
    """u, v (time, y, x) in the file's units (U = 0.05): a uniform stream with a wake that
    oscillates at SHEDDING."""
    time = np.arange(frames)[:, None, None] * SETTINGS["frame_interval"]
    y = (np.arange(NY) / 2 - 3.0)[None, :, None]
    x = (np.arange(NX) / 2 - 3.0)[None, None, :]
    u = 0.05 * (1.0 + 0.1 * np.cos(x) * np.sin(y) + 0 * time)
    v = 0.05 * 0.5 * np.sin(2 * np.pi * SHEDDING * time + 0.3 * x) * np.exp(-(y**2))
    return u, v


def course_array(u, v) -> np.ndarray:
    """The course's layout: (time, x, y, 2), component 0 = -u, component 1 = v."""
    return np.stack([-u.transpose(0, 2, 1), v.transpose(0, 2, 1)], axis=-1)


def files_under(root) -> list:
    """Every file under `root` (hidden ones too): what a failed download left behind."""
    return sorted(path for path in root.rglob("*") if not path.is_dir()) if root.exists() else []


def serve_course_file(served, base, frames=200, name="Re_300.npz"):
    u, v = velocities(frames)
    course_array(u, v).dump(served / name)
    return f"{base}/{name}", sha256_of(served / name), u, v


def test_course_file_round_trip(server, tmp_path):
    served, base = server
    url, sha256, u, v = serve_course_file(*server)
    output = tmp_path / "results/flow/re00300.zarr"
    write_downloaded_flow(output, reynolds=300, url=url, sha256=sha256, settings=SETTINGS)
    assert violations(output, FLOW, deep=True) == []
    flow = open_store(output)
    assert flow["u"].dims == ("time", "y", "x") and flow["u"].dtype == np.float32
    assert flow.sizes == {"time": 200, "y": NY, "x": NX}
    # x, y in diameters from the cylinder centre, time in D/U
    np.testing.assert_allclose(flow.x, np.arange(NX) / 2 - 3)
    np.testing.assert_allclose(flow.y, np.arange(NY) / 2 - 3)
    np.testing.assert_allclose(flow.time, np.arange(200) * 0.0625)
    # u was stored negated; velocities are now in units of U; NaN inside the cylinder only
    cylinder = flow["cylinder"].values
    assert cylinder.sum() == 5 and cylinder[6, 6]  # the centre (x = 0, y = 0) and its 4 neighbours
    assert np.isnan(flow["u"].values[:, cylinder]).all() and np.isnan(flow["v"].values[:, cylinder]).all()
    np.testing.assert_allclose(flow["u"].values[:, ~cylinder], (u / 0.05)[:, ~cylinder], rtol=1e-6)
    np.testing.assert_allclose(flow["v"].values[:, ~cylinder], (v / 0.05)[:, ~cylinder], rtol=1e-5, atol=1e-6)
    assert float(flow["u"].mean()) == pytest.approx(1.0, abs=0.05)
    attrs = flow.attrs
    assert attrs["source"] == "download" and attrs["reynolds"] == 300
    assert attrs["url"] == url and attrs["sha256"] == sha256 and url in attrs["solver"]
    assert attrs["strouhal"] == pytest.approx(SHEDDING, rel=0.05)
    assert attrs["download_settings"]["frame_interval"] == 0.0625
    assert {"length_unit", "time_unit", "velocity_unit", "karman_version"} <= set(attrs)
    assert [p.name for p in output.parent.iterdir()] == ["re00300.zarr"]  # no partial stores left


@pytest.mark.parametrize("module", ["numpy._core.multiarray", "numpy.core.multiarray"])
def test_unpickler_loads_arrays_dumped_by_numpy_1_and_2(tmp_path, module):
    array = np.random.default_rng(0).random((3, 4, 5, 2))
    array.dump(tmp_path / "a.npz")
    data = (tmp_path / "a.npz").read_bytes()
    assert b"cnumpy._core.multiarray\n_reconstruct\n" in data  # numpy 2.x, protocol 2
    (tmp_path / "b.npz").write_bytes(data.replace(b"numpy._core.multiarray", module.encode()))  # numpy 1.x spelling
    np.testing.assert_array_equal(load_pickled_array(tmp_path / "b.npz"), array)


def test_unpickler_loads_scalars_and_other_protocols():
    for protocol in (2, 4, 5):
        data = pickle.dumps(np.arange(6.0).reshape(2, 3), protocol=protocol)
        np.testing.assert_array_equal(ArrayUnpickler(io.BytesIO(data)).load(), np.arange(6.0).reshape(2, 3))
    assert ArrayUnpickler(io.BytesIO(pickle.dumps(np.float64(2.5), protocol=2))).load() == 2.5


class RunsCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("payload, forbidden", [
    ("os.system", "system"),
    (collections.OrderedDict(a=1), "collections.OrderedDict"),
    ((np.zeros(3), collections.OrderedDict()), "collections.OrderedDict"),  # an array in a container does not help
])
def test_unpickler_refuses_anything_but_arrays(tmp_path, payload, forbidden):
    marker = tmp_path / "pwned"
    if payload == "os.system":
        payload = RunsCommand(marker)
    (tmp_path / "evil.npz").write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match=rf"refusing to load the global .*{forbidden}"):
        load_pickled_array(tmp_path / "evil.npz")
    assert not marker.exists()


def test_unpickler_refuses_object_arrays_and_other_codecs(tmp_path):
    (tmp_path / "objects.npz").write_bytes(pickle.dumps(np.array([1, "a"], dtype=object), protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="refusing the dtype 'O8': only plain numbers"):
        load_pickled_array(tmp_path / "objects.npz")
    (tmp_path / "codec.npz").write_bytes(b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x05\x00\x00\x00rot13\x86R.")
    with pytest.raises(pickle.UnpicklingError, match="rot13"):
        load_pickled_array(tmp_path / "codec.npz")


class Reduces:
    """Pickles as the call `reduce` names: how a forged numpy pickle is written."""

    def __init__(self, *reduce):
        self.reduce = reduce

    def __reduce__(self):
        return self.reduce


def pickled_array(dtype, shape=(1,), raw=b"\0" * 8) -> bytes:
    """The protocol-2 pickle of an array (as ndarray.dump writes it) with the given dtype and state."""
    from numpy._core.multiarray import _reconstruct

    return pickle.dumps(Reduces(_reconstruct, (np.ndarray, (0,), b"b"), (1, shape, dtype, False, raw)), protocol=2)


def forged_dtype(name: str, state: tuple):
    return Reduces(np.dtype, (name, False, True), state)


@pytest.mark.parametrize("dtype, refused", [
    # numpy trusts the flags: 0 makes an object dtype that says it holds no objects
    (forged_dtype("O8", (3, "|", None, None, None, -1, -1, 0)), "refusing the dtype 'O8'"),
    # an f8 dtype whose fields hold an object passes np.issubdtype(float)
    (forged_dtype("f8", (3, "<", None, ("a",), {"a": (np.dtype("f8"), 0)}, 8, 1, 0)), "not that of a plain number"),
    (forged_dtype("f8", (3, "<", None, None, None, -1, -1, 0, {"meta": 1})), "not that of a plain number"),
    (forged_dtype("f8", (3, "<", (np.dtype("f8"), (1,)), None, None, -1, -1, 0)), "not that of a plain number"),
    (forged_dtype("V8", (3, "|", None, None, None, 8, 1, 16)), "refusing the dtype 'V8'"),
])
def test_unpickler_refuses_forged_dtype_state(tmp_path, dtype, refused):
    (tmp_path / "forged.npz").write_bytes(pickled_array(dtype))
    with pytest.raises(pickle.UnpicklingError, match=re.escape(refused)):
        load_pickled_array(tmp_path / "forged.npz")


def test_unpickler_allocates_no_more_than_the_file_holds(tmp_path):
    from numpy._core.multiarray import _reconstruct

    # _reconstruct allocates the shape it is given: 10⁹ float64s (8 GB) from a 57-byte file
    huge = pickle.dumps(Reduces(_reconstruct, (np.ndarray, (10**9,), np.dtype("f8"))), protocol=2)
    (tmp_path / "huge.npz").write_bytes(huge)
    with pytest.raises(pickle.UnpicklingError, match="never gives its data"):
        load_pickled_array(tmp_path / "huge.npz")
    # a state whose shape needs more bytes than it carries
    (tmp_path / "short.npz").write_bytes(pickled_array(np.dtype("f8"), shape=(10**9,)))
    with pytest.raises(pickle.UnpicklingError, match="its data are 8 bytes, not the 8000000000 it needs"):
        load_pickled_array(tmp_path / "short.npz")


@pytest.mark.parametrize("dtype", ["<f4", ">f8", "<i8", "|u1", "<f2"])
@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_unpickler_reads_every_plain_dtype_in_every_order(tmp_path, dtype, protocol):
    array = (np.arange(24) % 7).astype(dtype).reshape(2, 3, 4)
    for layout in (array, np.asfortranarray(array), array[:, ::2]):
        (tmp_path / "plain.npz").write_bytes(pickle.dumps(layout, protocol=protocol))
        read = load_pickled_array(tmp_path / "plain.npz")
        assert read.dtype == layout.dtype and read.flags.writeable
        np.testing.assert_array_equal(read, layout)


def test_malicious_course_file_fails_the_download_naming_the_url(server, tmp_path):
    served, base = server
    marker = tmp_path / "pwned"
    (served / "evil.npz").write_bytes(pickle.dumps(RunsCommand(marker), protocol=2))
    output = tmp_path / "results/flow/re00300.zarr"
    with pytest.raises(DownloadError, match=rf"{base}/evil.npz: cannot read .*'course'.*refusing to load the global .*system"):
        write_downloaded_flow(output, reynolds=300, url=f"{base}/evil.npz", sha256=sha256_of(served / "evil.npz"), settings=SETTINGS)
    assert not marker.exists() and files_under(tmp_path / "results") == []


def write_xarray(path, u, v, coords=None, kind="netcdf"):
    dataset = xr.Dataset({"u": (("time", "y", "x"), u), "v": (("time", "y", "x"), v)}, coords=coords or {})
    if kind == "netcdf":
        dataset.transpose("time", "x", "y").to_netcdf(path, engine="scipy")  # any dim order is fine
        return
    store = path.with_suffix(".dir.zarr")
    with quiet_zarr_warnings():
        dataset.to_zarr(store, zarr_format=3, consolidated=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:  # `cd store.zarr && zip -r0 ../store.zarr.zip .`
        for file in sorted(store.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(store).as_posix())


@pytest.mark.parametrize("fmt", ["npy", "npz-uv", "npz-single", "netcdf", "zarr", "netcdf-coords"])
def test_other_formats(server, tmp_path, fmt):
    served, base = server
    u, v = velocities(40)
    path = served / f"flow-{fmt}.data"
    settings = SETTINGS | {"format": fmt.split("-")[0]}
    x = np.arange(NX) / 2 - 2.75  # coordinates the file carries: used as they are
    single = np.stack([u.transpose(0, 2, 1), v.transpose(0, 2, 1)], axis=-1)  # (time, x, y, 2), u not negated
    if fmt == "npy":
        with open(path, "wb") as handle:
            np.save(handle, single)
    elif fmt.startswith("npz"):
        with open(path, "wb") as handle:
            np.savez(handle, **({"u": u, "v": v} if fmt == "npz-uv" else {"velocity": single}))
    elif fmt == "netcdf":
        write_xarray(path, u, v)
    elif fmt == "netcdf-coords":
        write_xarray(path, u, v, coords={"x": x, "time": np.arange(40) * 0.1})
    elif fmt == "zarr":
        write_xarray(path, u, v, kind="zarr")
    output = tmp_path / "results/flow/re600.zarr"
    write_downloaded_flow(output, reynolds=600, url=f"{base}/{path.name}", sha256=sha256_of(path), settings=settings)
    assert violations(output, FLOW, deep=True) == []
    flow = open_store(output)
    cylinder = flow["cylinder"].values
    np.testing.assert_allclose(flow["u"].values[:, ~cylinder], (u / 0.05)[:, ~cylinder], rtol=1e-6)
    np.testing.assert_allclose(flow["v"].values[:, ~cylinder], (v / 0.05)[:, ~cylinder], rtol=1e-5, atol=1e-6)
    if fmt == "netcdf-coords":
        np.testing.assert_allclose(flow.x, x)
        np.testing.assert_allclose(flow.time, np.arange(40) * 0.1)
        assert cylinder.sum() == 2  # the centre lies between two cells now
    else:
        np.testing.assert_allclose(flow.x, np.arange(NX) / 2 - 3)
        np.testing.assert_allclose(flow.time, np.arange(40) * 0.0625)


def test_checksum_mismatch_names_url_both_checksums_and_the_fix(server, tmp_path):
    url, actual, _, _ = serve_course_file(*server)
    expected = "0" * 64
    output = tmp_path / "results/flow/re00300.zarr"
    with pytest.raises(DownloadError) as error:
        write_downloaded_flow(output, reynolds=300, url=url, sha256=expected, settings=SETTINGS)
    message = str(error.value)
    assert url in message and expected in message and actual in message and "checksum mismatch" in message
    assert "sha256sum Re_300.npz" in message and "hashlib" in message and "flow.download.files.300.sha256" in message
    assert files_under(tmp_path / "results") == []
    # download() itself leaves nothing in its directory
    (tmp_path / "downloads").mkdir()
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download(url, expected, tmp_path / "downloads")
    assert list((tmp_path / "downloads").iterdir()) == []
    assert download(url, actual.upper(), tmp_path / "downloads").read_bytes() == (server[0] / "Re_300.npz").read_bytes()


def test_http_error_names_url_and_status(server, tmp_path):
    url = f"{server[1]}/missing.npz"
    (tmp_path / "downloads").mkdir()
    with pytest.raises(DownloadError, match=rf"{url}: HTTP error 404"):
        download(url, "0" * 64, tmp_path / "downloads")
    assert list((tmp_path / "downloads").iterdir()) == []


def test_connection_error_names_url(tmp_path):
    with socket.socket() as sock:  # a port on which nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/Re_300.npz"
    with pytest.raises(DownloadError, match=rf"{url}: cannot connect"):
        download(url, "0" * 64, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_bad_checksum_setting_explains_how_to_fill_it_in(tmp_path):
    with pytest.raises(DownloadError, match="not 64 hexadecimal digits.*sha256sum"):
        download("http://127.0.0.1:1/x.npz", "FILL-IN", tmp_path)


@pytest.mark.parametrize("content, fmt, message", [
    (b"not a pickle at all", "course", r"cannot read the file as flow.download.format 'course'"),
    (b"not a zip", "npz", r"cannot read the file as flow.download.format 'npz'"),
    (b"not netcdf", "netcdf", r"cannot read the file as flow.download.format 'netcdf'"),
    (b"not a zip", "zarr", r"expected a Zarr store zipped into one file"),
    (None, "course", r"this is a real .npy file.*format: npy"),
])
def test_unreadable_file_names_url_and_format(server, tmp_path, content, fmt, message):
    served, base = server
    path = served / "data.bin"
    if content is None:
        np.save(served / "data.npy", np.zeros((2, NX, NY, 2)))
        path = served / "data.npy"
    else:
        path.write_bytes(content)
    url = f"{base}/{path.name}"
    with pytest.raises(DownloadError, match=rf"{url}: .*{message}"):
        write_downloaded_flow(tmp_path / "results/flow/re00300.zarr", reynolds=300, url=url, sha256=sha256_of(path),
                              settings=SETTINGS | {"format": fmt})
    assert files_under(tmp_path / "results") == []


@pytest.mark.parametrize("shape", [(10, NX, NY), (10, NX, NY, 3), (10, NY, NX, 2), (10, NX + 1, NY, 2)])
def test_wrong_shape_names_url_and_expected_shape(tmp_path, shape):
    np.zeros(shape).dump(tmp_path / "a.npz")
    with pytest.raises(DownloadError, match=rf"http://example.org/a.npz: expected an array \(time, x, y, components\) of shape \(frames, {NX}, {NY}, 2\).*got shape"):
        read_fields(tmp_path / "a.npz", "http://example.org/a.npz", SETTINGS)


def test_wrong_grid_of_named_variables_names_url_and_expected_shape(server, tmp_path):
    served, base = server
    np.savez(served / "uv.npz", u=np.zeros((5, NY, NX - 2)), v=np.zeros((5, NY, NX - 2)))
    url = f"{base}/uv.npz"
    with pytest.raises(DownloadError, match=rf"{url}: expected 'u' of shape \(frames, {NY}, {NX}\)"):
        write_downloaded_flow(tmp_path / "re300.zarr", reynolds=300, url=url, sha256=sha256_of(served / "uv.npz"),
                              settings=SETTINGS | {"format": "npz"})
    assert not (tmp_path / "re300.zarr").exists() and [p.name for p in tmp_path.iterdir() if ".partial-" in p.name] == []


def test_course_defaults_describe_the_course_grid():
    from karman.vortex.flow_files import DEFAULTS, grid_coordinates

    assert expected_grid(DEFAULTS) == (64, 128)
    x, y = grid_coordinates(DEFAULTS)
    assert x[0] == -3 and y[33] == pytest.approx(0)  # centre 3 D from the inlet, 5 D + one cell above the bottom


def download_config(files: dict, reynolds: list[int]) -> dict:
    return TINY_CONFIG | {
        "systems": ["vortex"],
        "reynolds": reynolds,
        "flow": {"source": "download", "download": {**SETTINGS, "files": files}},
    }


@pytest.mark.workflow
def test_workflow_downloads_flows(server, tmp_path):
    served, base = server
    reynolds = [150, 300, 450, 600]
    files = {}
    for number in reynolds:
        u, v = velocities(40)
        course_array(u * (1 + number / 1000), v).dump(served / f"Re_{number}.npz")
        files[number] = {"url": f"{base}/Re_{number}.npz", "sha256": sha256_of(served / f"Re_{number}.npz")}
    workdir = tmp_path / "run"
    write_config(workdir, download_config(files, reynolds))
    snakemake(workdir, "--cores", "2", "results/flow/summary.json")
    summary = json.loads((workdir / "results/flow/summary.json").read_text())
    assert [row["reynolds"] for row in summary["flows"]] == reynolds
    for row, re in zip(summary["flows"], reynolds):
        assert row["source"] == "download" and row["snapshots"] == 40 and row["grid"] == [NY, NX]
        assert row["url"] == files[re]["url"] and row["sha256"] == files[re]["sha256"]
        assert violations(workdir / f"results/flow/{store_name(re)}.zarr", FLOW) == []
    assert (workdir / "logs/download_flow/re00300.log").read_text().count("downloaded") >= 1

    # The solver is not what a download runs: changing it downloads nothing again.
    package, env = library_copy(tmp_path)
    change_behaviour(package / "vortex/lattice.py")
    assert planned(workdir, "results/flow/summary.json", env=env) == {}

    # A wrong checksum, and a file of the right checksum whose pickle forges a dtype: the jobs
    # fail naming the URL and what is wrong, and no flow store appears.
    (served / "forged.npz").write_bytes(pickled_array(forged_dtype("O8", (3, "|", None, None, None, -1, -1, 0))))
    bad = tmp_path / "bad"
    bad_files = {re: entry | {"sha256": "f" * 64} for re, entry in files.items()}
    bad_files[150] = {"url": f"{base}/forged.npz", "sha256": sha256_of(served / "forged.npz")}
    write_config(bad, download_config(bad_files, reynolds))
    result = snakemake(bad, "--cores", "2", "--keep-going", "results/flow/summary.json", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "checksum mismatch" in output and f"{base}/Re_300" in output and "f" * 64 in output
    assert f"{base}/forged.npz: cannot read" in output and "refusing the dtype 'O8'" in output, output[-3000:]
    assert not list(bad.glob("results/flow/*re*"))


@pytest.mark.workflow
def test_a_urls_token_reaches_the_server_and_nothing_karman_writes(server, tmp_path, monkeypatch):
    """Re 150's URL carries a literal signature, Re 300's a token from the environment; the run
    goes to the report and The Well's export, and no file it writes holds either secret."""
    served, base = server
    monkeypatch.setenv("KARMAN_DATA_TOKEN", "token-from-the-environment")
    files = {}
    for re_, query in ((150, "X-Amz-Signature=literal-signature"), (300, "token=${KARMAN_DATA_TOKEN}")):
        u, v = velocities(40)
        course_array(u * (1 + re_ / 1000), v).dump(served / f"Re_{re_}.npz")
        files[re_] = {"url": f"{base}/Re_{re_}.npz?{query}", "sha256": sha256_of(served / f"Re_{re_}.npz")}
    workdir = tmp_path / "run"
    write_config(workdir, small_config("ridge") | {"flow": {"source": "download", "download": {**SETTINGS, "files": files}},
                                                   "export": {"formats": ["the-well"]}})
    snakemake(workdir, "--cores", "2")
    summary = json.loads((workdir / "results/flow/summary.json").read_text())
    assert [row["url"] for row in summary["flows"]] == [f"{base}/Re_150.npz", f"{base}/Re_300.npz"]
    assert f"{base}/Re_300.npz" in (workdir / "results/report/index.html").read_text()
    assert "kept out of logs and outputs" in (workdir / "logs/download_flow/re00300.log").read_text()
    written = [path for path in files_under(workdir) if path.name != "config.yaml"]
    assert any("the_well" in str(path) for path in written) and any(path.suffix == ".html" for path in written)
    for path in written:
        data = path.read_bytes()
        assert b"token-from-the-environment" not in data, path  # the environment's token is in no file at all
        if ".snakemake/metadata" not in path.as_posix():  # Snakemake's own record of the params holds the URLs as configured
            assert b"literal-signature" not in data and b"KARMAN_DATA_TOKEN" not in data, path
