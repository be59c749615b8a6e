"""Bad flow data brought by the user (`flow.source: download`), through the workflow.

Each case runs `snakemake` in a temporary working directory against a local HTTP server:
the job fails before it writes the store, its message (in Snakemake's output and in
logs/download_flow/re*.log) names the URL, what was found and what is allowed; nothing
half-written is left (no store, no partial path, no temporary file); and once the cause
is fixed, the same command run again finishes with the same bytes as a clean run.
"""

import filecmp
import hashlib
import http.server
import os
import subprocess
import threading
import time

import numpy as np
import psutil
import pytest
import xarray as xr

from conftest import snakemake_command, small_config, write_config
from karman.fetch import DownloadError, html_page_message, looks_like_html
from karman.vortex.flow_conversion import to_flow_dataset
from karman.vortex.flow_files import VelocityFields
from karman.vortex.sweep import store_name
from test_download import NX, NY, SETTINGS, course_array, files_under, velocities, write_xarray

PROXIES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
FRAMES = 40
LOGIN_PAGE = (b"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>Sign in &middot; Data Portal</title></head>"
              b"<body><form action='/login'><input name='user'><input type='password' name='password'></form></body></html>\n")
NOT_FOUND_PAGE = b"\n  <html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"


# --- an HTTP server whose answers the tests change between runs ---------------------------------

class Routes(http.server.BaseHTTPRequestHandler):
    """Serves `server.routes[path]` = (body, Content-Type, stall) with status 200 (404 if absent);
    a stalled answer sends half its body and waits for `server.release`."""

    def do_GET(self):
        entry = self.server.routes.get(self.path)
        if entry is None:
            self.send_error(404)
            return
        body, content_type, stall = entry
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if stall:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.server.release.wait(120)
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Site:
    def __init__(self, httpd):
        self.httpd = httpd
        self.base = f"http://127.0.0.1:{httpd.server_address[1]}"

    def serve(self, path: str, body: bytes, content_type: str = "application/octet-stream", stall: bool = False) -> str:
        self.httpd.routes[path] = (body, content_type, stall)
        return self.base + path


@pytest.fixture
def site():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Routes)
    httpd.routes, httpd.release = {}, threading.Event()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield Site(httpd)
    httpd.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join()


# --- the workflow, run as a user runs it ---------------------------------------------------------

def environment(tmpdir) -> dict:
    """The user's environment without proxies, with TMPDIR where the test can see what is left in it."""
    tmpdir.mkdir(exist_ok=True)
    return {**{key: value for key, value in os.environ.items() if key.lower() not in PROXIES}, "TMPDIR": str(tmpdir)}


def command(workdir, targets) -> list[str]:
    return [*snakemake_command(), "--directory", str(workdir), "--cores", "2", "--keep-going", *targets]


def snakemake(workdir, tmpdir, targets) -> subprocess.CompletedProcess:
    return subprocess.run(command(workdir, targets), capture_output=True, text=True, timeout=600, env=environment(tmpdir))


def download_config(fmt: str, files: dict) -> dict:
    return small_config("ridge") | {
        "reynolds": sorted(files),
        "flow": {"source": "download", "download": {**SETTINGS, "format": fmt, "files": files}},
    }


def targets(reynolds) -> list[str]:
    return [f"results/flow/{store_name(re)}.zarr" for re in reynolds]


def partial_paths(workdir) -> list:
    return sorted(path for path in workdir.rglob("*") if ".partial-" in path.name)


def assert_same_stores(workdir, reference, reynolds) -> None:
    """Every file of every flow store is byte for byte the one of the clean run."""
    for re in reynolds:
        mine, theirs = (root / f"results/flow/{store_name(re)}.zarr" for root in (workdir, reference))
        names = sorted(str(path.relative_to(mine)) for path in mine.rglob("*") if path.is_file())
        assert names == sorted(str(path.relative_to(theirs)) for path in theirs.rglob("*") if path.is_file())
        match, mismatch, errors = filecmp.cmpfiles(mine, theirs, names, shallow=False)
        assert (mismatch, errors) == ([], []) and len(match) > 5, f"Re {re}: files differ from a clean run: {mismatch + errors}"


# --- the files: good ones, and ways to spoil them ------------------------------------------------

def sha256_of_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def good_fields():
    u, v = velocities(FRAMES)
    return u, v


def course_bytes(u, v) -> bytes:
    return course_array(u, v).dumps()


def netcdf_bytes(tmp_path, name, u, v, coords=None, dims=("time", "y", "x"), attrs=None) -> bytes:
    path = tmp_path / f"{name}.nc"
    if dims == ("time", "y", "x") and attrs is None:
        write_xarray(path, u, v, coords=coords)
    else:
        dataset = xr.Dataset({"u": (dims, u), "v": (dims, v)}, coords=coords or {})
        for coordinate, units in (attrs or {}).items():
            dataset[coordinate].attrs["units"] = units
        dataset.to_netcdf(path, engine="scipy")
    return path.read_bytes()


def body_elsewhere(u, v):
    """A solid body (u = v = 0 in every frame) 3 D behind where the settings put the cylinder."""
    u, v = u.copy(), v.copy()
    for row, column in [(6, 12), (5, 12), (7, 12), (6, 11), (6, 13)]:
        u[:, row, column] = v[:, row, column] = 0.0
    return u, v


def infinite_and_nan(u, v):
    u, v = u.copy(), v.copy()
    u[5:, 3, 15] = np.inf
    v[7, 8, 20] = np.nan
    return u, v


X = np.arange(NX) / 2 - 3.0  # the grid's coordinates in D from the cylinder centre
Y = np.arange(NY) / 2 - 3.0
TIME = np.arange(FRAMES) * 0.0625


def restarted_time():
    time_ = TIME.copy()
    time_[20:] -= 1.0  # a second file joined on, its clock started again
    return time_


# case -> (Re, what is served, what the config's sha256 is of, fragments of the message)
COURSE_CASES = {
    "inf and NaN outside the cylinder": (150, lambda tmp, u, v: (course_bytes(*infinite_and_nan(u, v)), None), "served",
                                         ["2 of 283 cells outside the cylinder hold NaN or infinite velocities",
                                          "expected finite u and v in every cell outside the cylinder"]),
    "a solid body away from the cylinder": (300, lambda tmp, u, v: (course_bytes(*body_elsewhere(u, v)), None), "served",
                                            ["5 cells do not move in any frame", "not at the cylinder centre x = 0, y = 0",
                                             "set flow.download.cylinder_x: 6 and cylinder_y: 3"]),
    "u not negated in a course file": (450, lambda tmp, u, v: (course_bytes(-u, v), None), "served",
                                       ["the streamwise velocity u at the inflow (the first column, x = -3 D) has a median of -1.007 U",
                                        "expected about 1 U (0.5 to 2)", "u looks negated"]),
    "a login page (HTML, status 200)": (600, lambda tmp, u, v: (LOGIN_PAGE, "text/html; charset=utf-8"), "good",
                                        ['an HTML page came back, not the data file (a web page titled "Sign in · Data Portal"',
                                         "Content-Type text/html", "direct download link",
                                         "is not the expected"]),
    "a 404 page with status 200, checksum taken of it": (750, lambda tmp, u, v: (NOT_FOUND_PAGE, None), "served",
                                                        ['an HTML page came back, not the data file (a web page titled "404 Not Found"',
                                                         "that checksum was taken of this page, not of the data"]),
}
NETCDF_CASES = {
    "dims with other names": (150, lambda tmp, u, v: (netcdf_bytes(tmp, "names", u, v, dims=("frame", "row", "column")), None), "served",
                              ["variable 'u' has dims ('frame', 'row', 'column')",
                               "expected the three dims 'time', 'y', 'x' (in any order, named exactly so"]),
    "x and y swapped": (300, lambda tmp, u, v: (netcdf_bytes(tmp, "swapped", u, v, dims=("time", "x", "y")), None), "served",
                        [f"expected 'u' of shape (frames, {NY}, {NX}) = (time, y, x)", f"got ({FRAMES}, {NX}, {NY})",
                         "y and x look swapped"]),
    "x in metres (no units attribute)": (450, lambda tmp, u, v: (netcdf_bytes(tmp, "metres", u, v, coords={"x": X * 0.02}), None),
                                         "served", ["coordinate 'x' has cell centres 0.01 apart",
                                                    "expected 0.5 D between cell centres (1/flow.download.diameter_cells = 1/2)"]),
    "x with units m": (600, lambda tmp, u, v: (netcdf_bytes(tmp, "units", u, v, coords={"x": X, "y": Y}, attrs={"x": "m", "y": "m"}),
                                               None), "served",
                       ["coordinate 'x' has units 'm'; expected x along the flow in cylinder diameters D from the cylinder centre "
                        "(units 'D', or no units attribute)"]),
    "time in seconds": (750, lambda tmp, u, v: (netcdf_bytes(tmp, "seconds", u, v, coords={"time": TIME * 0.3}, attrs={"time": "s"}),
                                                None), "served",
                        ["coordinate 'time' has units 's'; expected time in convective units D/U"]),
    "time restarting": (900, lambda tmp, u, v: (netcdf_bytes(tmp, "restart", u, v, coords={"time": restarted_time()}), None), "served",
                        ["coordinate 'time' is not strictly increasing: time[20] = 0.25 is earlier than time[19] = 1.1875",
                         "Expected each frame after the one before"]),
    "origin at the domain's corner": (1050, lambda tmp, u, v: (netcdf_bytes(tmp, "corner", u, v, coords={"x": X + 3, "y": Y + 3},
                                                                            attrs={"x": "D", "y": "D"}), None), "served",
                                      ["the cylinder (centre at x = 0, y = 0, diameter 1 D) is not inside the grid: x runs from 0 to 11.5 D",
                                       "expected x and y measured from the cylinder centre"]),
}


def good_bytes(fmt, tmp_path, u, v) -> bytes:
    return course_bytes(u, v) if fmt == "course" else netcdf_bytes(tmp_path, "good", u, v)


@pytest.mark.workflow
@pytest.mark.parametrize("fmt, cases", [("course", COURSE_CASES), ("netcdf", NETCDF_CASES)], ids=["course", "netcdf"])
def test_bad_files_fail_with_a_named_error_leave_nothing_and_a_rerun_completes(site, tmp_path, fmt, cases):
    u, v = good_fields()
    good = good_bytes(fmt, tmp_path, u, v)
    reynolds = [re for re, *_ in cases.values()]
    bad_files, good_files, urls = {}, {}, {}
    for name, (re, spoil, checksum_of, _) in cases.items():
        body, content_type = spoil(tmp_path, u, v)
        urls[name] = site.serve(f"/data/{fmt}/flow_Re{re}.bin", body, content_type or "application/octet-stream")
        bad_files[re] = {"url": urls[name], "sha256": sha256_of_bytes(body if checksum_of == "served" else good)}
        good_files[re] = {"url": urls[name], "sha256": sha256_of_bytes(good)}

    workdir, tmpdir = tmp_path / "run", tmp_path / "tmp"
    write_config(workdir, download_config(fmt, bad_files))
    result = snakemake(workdir, tmpdir, targets(reynolds))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    for name, (re, _, _, fragments) in cases.items():
        log = (workdir / f"logs/download_flow/{store_name(re)}.log").read_text()
        for fragment in [f"{urls[name]}: {fragments[0]}", *fragments[1:]]:
            assert fragment in log, f"{name}: {fragment!r} not in the log:\n{log}"
            assert fragment in output, f"{name}: {fragment!r} not in Snakemake's output"
    # nothing half-written anywhere: no store, no partial path, no temporary file
    assert list((workdir / "results/flow").glob("*.zarr")) == []
    assert partial_paths(workdir) == []
    assert files_under(tmpdir) == []

    # The cause fixed (the right files served, their checksums in the config): the same command finishes.
    for name, (re, *_) in cases.items():
        site.serve(f"/data/{fmt}/flow_Re{re}.bin", good)
    write_config(workdir, download_config(fmt, good_files))
    rerun = snakemake(workdir, tmpdir, targets(reynolds))
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    reference = tmp_path / "clean"
    write_config(reference, download_config(fmt, good_files))
    clean = snakemake(reference, tmpdir, targets(reynolds))
    assert clean.returncode == 0, clean.stderr[-4000:]
    assert_same_stores(workdir, reference, reynolds)
    assert partial_paths(workdir) == [] and files_under(tmpdir) == []


@pytest.mark.workflow
def test_a_download_killed_midway_leaves_a_partial_file_that_the_rerun_removes(site, tmp_path):
    u, v = good_fields()
    good = course_bytes(u, v)
    files = {re: {"url": site.serve(f"/Re_{re}.npz", good, stall=re == 300), "sha256": sha256_of_bytes(good)} for re in (150, 300)}
    workdir, tmpdir = tmp_path / "run", tmp_path / "tmp"
    write_config(workdir, download_config("course", files))
    target = targets([300])
    process = subprocess.Popen(command(workdir, target), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=environment(tmpdir))
    try:
        # The server sends half the file and stalls; the partial download is beside the store, under results/.
        deadline = time.monotonic() + 60
        while not partial_paths(workdir) and time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read()
            time.sleep(0.1)
        partial = partial_paths(workdir)
        assert [path.parent for path in partial] == [workdir / "results/flow"], f"no partial download under results/flow: {partial}"
        jobs = [child for child in psutil.Process(process.pid).children(recursive=True)
                if child.name().startswith("python") and any("download_flow" in part for part in child.cmdline())]
        assert len(jobs) == 1
        jobs[0].kill()  # as the kernel's OOM killer or a cancelled cluster job would
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode != 0
    assert partial_paths(workdir) == partial and not (workdir / "results/flow/re00300.zarr").exists()
    assert files_under(tmpdir) == []  # nothing outside the working directory, where no sweep would find it

    site.serve("/Re_300.npz", good)  # the server answers again
    rerun = snakemake(workdir, tmpdir, target)
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    assert f"karman: removed 1 partial output of an interrupted run: results/flow/{partial[0].name}" in rerun.stdout + rerun.stderr
    assert partial_paths(workdir) == []
    reference = tmp_path / "clean"
    write_config(reference, download_config("course", files))
    assert snakemake(reference, tmpdir, target).returncode == 0
    assert_same_stores(workdir, reference, [300])


# --- the same checks, on the library alone (fast) ------------------------------------------------

URL = "http://example.org/flow.nc"


def converted(**fields):
    u, v = good_fields()
    return to_flow_dataset(VelocityFields(**{"u": u, "v": v, **fields}), reynolds=300, url=URL, sha256="0" * 64, settings=SETTINGS)


def test_good_fields_with_their_units_pass():
    flow = converted(x=X, y=Y, time=TIME, units={"x": "D", "y": "cylinder diameters", "time": "D/U", "u": "m/s"})
    np.testing.assert_allclose(flow.x, X)


@pytest.mark.parametrize("fields, message", [
    ({"u": infinite_and_nan(*good_fields())[0]}, r"1 of 283 cells outside the cylinder hold NaN or infinite velocities \(the first, "
                                                 r"at x = 4.5 D, y = -1.5 D: in 35 of 40 frames, from time 0.3125 D/U, where u = inf U"),
    (dict(zip("uv", body_elsewhere(*good_fields()))), r"5 cells do not move in any frame .* centred at x = 3 D, y = 0 D \(6 D from the "
                                                      r"first column, 3 D from the first row\)"),
    ({"u": -good_fields()[0]}, r"u looks negated"),
    ({"u": good_fields()[0] * 100}, r"median of 100.7 U over all frames; expected about 1 U \(0.5 to 2\).*inflow_velocity = 0.05"),
    ({"x": X * 0.02}, r"coordinate 'x' has cell centres 0.01 apart \(from -0.06 to 0.17\); expected 0.5 D between cell centres"),
    ({"y": Y ** 3 / 9}, r"coordinate 'y' has cell centres .* to .* apart"),
    ({"x": X, "units": {"x": "mm"}}, r"coordinate 'x' has units 'mm'; expected x along the flow in cylinder diameters D"),
    ({"time": TIME, "units": {"time": "seconds since 2020-01-01"}}, r"coordinate 'time' has units 'seconds since 2020-01-01'"),
    ({"time": np.where(np.arange(FRAMES) == 7, TIME[6], TIME)}, r"time\[7\] = 0.375 repeats time\[6\] = 0.375"),
    ({"time": np.where(np.arange(FRAMES) == 3, np.nan, TIME)}, r"coordinate 'time' holds nan at index 3; expected finite values"),
    ({"y": Y + 3}, r"not inside the grid: y runs from 0 to 5.5 D \(the file's coordinate\)"),
])
def test_fields_that_break_the_contract_are_refused_naming_the_url(fields, message):
    with pytest.raises(DownloadError, match=rf"^{URL}: .*{message}"):
        converted(**fields)


def test_a_nan_body_elsewhere_says_where_the_cylinder_seems_to_be():
    u, v = good_fields()
    u, v = (np.where(np.isin(np.arange(NX), [11, 12, 13])[None, None, :] & (np.arange(NY) == 6)[None, :, None], np.nan, a) for a in (u, v))
    with pytest.raises(DownloadError, match="cells that are NaN in every frame look like a solid body centred at x = 3 D, y = 0 D.*"
                                            "set flow.download.cylinder_x: 6 and cylinder_y: 3 \\(now 3 and 3\\)"):
        converted(u=u, v=v)


def test_walls_and_a_cylinder_in_its_place_are_not_a_misplaced_body():
    u, v = good_fields()
    u, v = u.copy(), v.copy()
    u[:, :1], v[:, :1], u[:, -1:], v[:, -1:] = 0, 0, 0, 0  # no-slip walls at the bottom and top
    u[:, 5:8, 5:8], v[:, 5:8, 5:8] = 0, 0  # the solid cylinder where the settings say, a little larger than the mask
    assert converted(u=u, v=v).sizes["time"] == FRAMES


def test_html_pages_are_recognised_and_data_files_are_not(tmp_path):
    assert looks_like_html(LOGIN_PAGE) and looks_like_html(NOT_FOUND_PAGE) and looks_like_html(b"\xef\xbb\xbf<!-- x --><HTML>")
    u, v = good_fields()
    for data in (course_bytes(u, v), netcdf_bytes(tmp_path, "good", u, v), b"PK\x03\x04", b"\x93NUMPY", b"<not html at all>"):
        assert not looks_like_html(data[:4096])


def test_an_html_page_from_github_points_to_the_raw_link():
    url = "https://github.com/someone/data/blob/main/flow_Re300.npz"
    message = html_page_message(url, LOGIN_PAGE, "text/html", 1234, "a" * 64, "b" * 64, "flow.download.files.300.sha256")
    assert message.startswith(f"{url}: an HTML page came back")
    assert "https://github.com/someone/data/raw/main/flow_Re300.npz" in message and "flow.download.files.300.url" in message
