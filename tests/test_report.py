"""The report renders what is there: sections, metrics as in metrics.json, missing values as missing."""

import json
import re
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from karman.vortex.physics import drag_check, drag_reference, strouhal_check, strouhal_reference
from karman.duffing.report import FIGURES as DUFFING_FIGURES
from karman.duffing.report import section as duffing_section
from karman.report import render_report
from karman.vortex.report import FIGURES
from karman.vortex.report import section as vortex_section

from conftest import TINY_RUN_LICENSE

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000" "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


class Tables(HTMLParser):
    """Rows of every table by id, as lists of cell texts."""

    def __init__(self, html: str):
        super().__init__()
        self.tables, self.table, self.row, self.cell = {}, None, None, None
        self.headings = []
        self.in_heading = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.table = self.tables.setdefault(attrs.get("id", f"table{len(self.tables)}"), [])
        elif tag == "tr" and self.table is not None:
            self.row = []
            self.table.append(self.row)
        elif tag in ("td", "th") and self.row is not None:
            self.cell = ""
        elif tag in ("h2", "h3"):
            self.in_heading = True
            self.headings.append("")

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row.append(" ".join(self.cell.split()))
            self.cell = None
        elif tag == "table":
            self.table = None
        elif tag in ("h2", "h3"):
            self.in_heading = False

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data
        if self.in_heading:
            self.headings[-1] += data


def row(table: list[list[str]], first: str) -> list[str]:
    return next(r for r in table if r and r[0] == first)


def test_workflow_report_has_every_section_and_the_metrics_of_metrics_json(tiny_run):
    html = (tiny_run / "results/report/index.html").read_text()
    page = Tables(html)
    for heading in ("Data", "Physics checks", "Models", "Provenance", "Samples per Reynolds number and split", "Test error per Reynolds number"):
        assert heading in page.headings
    for name in ("ridge", "mlp", "cnn"):
        metrics = json.loads((tiny_run / f"results/models/{name}/metrics.json").read_text())
        cells = row(page.tables["metrics"], name)
        for i, (split, key, fmt) in enumerate([(s, k, f) for s in ("val", "test") for k, f in (("r2", "%.4f"), ("mae", "%.1f"), ("rmse", "%.1f"))]):
            assert cells[2 + i] == fmt % metrics[split][key], (name, split, key)
        per_re = row(page.tables["per-reynolds"], name)
        for j, reynolds in enumerate(sorted(metrics["test"]["per_reynolds"], key=float)):
            assert per_re[1 + j] == "%.1f" % metrics["test"]["per_reynolds"][reynolds]["mae"]
    flows = json.loads((tiny_run / "results/flow/summary.json").read_text())["flows"]
    physics = page.tables["physics-table"]
    for flow in flows:
        cells = row(physics, "%g" % flow["reynolds"])
        assert cells[3] == ("%.3f" % flow["strouhal"]["measured"] if flow["strouhal"]["measured"] is not None else "missing")
    jobs = [cells[0] for cells in page.tables["wall-times"][1:]]  # from the benchmark files the report declares as inputs
    assert {"compute_vorticity", "train_network/mlp", "make_comparison_split/holdout-re", "simulate_duffing/images"} <= set(jobs)
    assert_shown_as_text(html, TINY_RUN_LICENSE)  # a config string, as the page shows the config


def fixture_inputs(root: Path, flows: list[dict], models: dict[str, dict | None]) -> dict:
    figures = {}
    for name in FIGURES:
        figures[name] = root / f"{name}.png"
        figures[name].write_bytes(PNG)
    # Written as karman.split writes it: sorted keys, which puts "1200" before "300".
    (root / "split.json").write_text(json.dumps({"strategy": "random", "seed": 0, "n_samples": 8,
                                                 "counts": {"train": 4, "val": 2, "test": 2, "gap": 0},
                                                 "counts_per_reynolds": {"300": {"train": 2, "val": 1, "test": 1, "gap": 0},
                                                                         "1200": {"train": 2, "val": 1, "test": 1, "gap": 0}}},
                                                sort_keys=True))
    (root / "flow.json").write_text(json.dumps({"flows": flows}))
    model_dirs = {}
    for name, metrics in models.items():
        directory = root / name
        directory.mkdir()
        if metrics is not None:
            (directory / "metrics.json").write_text(json.dumps(metrics))
        model_dirs[name] = directory
    return {"figures": figures, "split_summary": root / "split.json", "flow_summary": root / "flow.json", "model_dirs": model_dirs}


def render(root: Path, vortex: dict | None = None, duffing: dict | None = None, config: dict | None = None) -> None:
    """The page of the vortex street's and/or the Duffing oscillator's section, from their inputs."""
    sections = {"vortex": vortex_section(**vortex)} if vortex else {}
    sections |= {"duffing": duffing_section(**duffing)} if duffing else {}
    render_report(root / "index.html", sections=sections, config=config or {"training": {"backend": "tensorflow"}},
                  backend="tensorflow", workflow_dir=root)


# Strings a config or a store may carry that would run as script in the page, were they not escaped.
SCRIPT_IN_A_URL = "https://example.org/re300.npz?</pre><script>alert(1)</script>"
SCRIPT_IN_A_LICENSE = "<img src=x onerror=alert(1)>"


def assert_shown_as_text(html: str, *texts: str) -> None:
    for text in texts:
        assert text not in html, f"{text!r} is in the page unescaped"
        assert escape(text) in html or escape(text, quote=False) in html, f"{text!r} is not in the page as text"
    assert "<script>" not in html and "<img src=x" not in html


def test_config_strings_and_store_values_are_escaped(tmp_path):
    flows = [{"reynolds": 300.0, "source": "download", "snapshots": 10, "url": SCRIPT_IN_A_URL, "sha256": "0" * 64,
              "strouhal": strouhal_check(300.0, None), "drag_coefficient": drag_check(300.0, None)}]
    render(tmp_path, vortex=fixture_inputs(tmp_path, flows, {}), config={"export": {"license": SCRIPT_IN_A_LICENSE}})
    html = (tmp_path / "index.html").read_text()
    assert_shown_as_text(html, SCRIPT_IN_A_LICENSE, "</pre><script>alert(1)</script>")
    assert Tables(html).tables  # still a page with its tables


def test_a_model_without_results_and_a_missing_physics_value_are_shown_as_such(tmp_path):
    flows = [{"reynolds": 300.0, "source": "simulate", "snapshots": 10, "strouhal": strouhal_check(300.0, None), "drag_coefficient": drag_check(300.0, None)},
             {"reynolds": 600.0, "source": "simulate", "snapshots": 10, "strouhal": strouhal_check(600.0, 0.5), "drag_coefficient": drag_check(600.0, 1.45)}]
    good = {"model": "ridge", "device": "CPU", "val": {"r2": 0.5, "mae": 1.0, "rmse": 2.0},
            "test": {"r2": 0.25, "mae": 3.0, "rmse": 4.0, "per_reynolds": {"300": {"mae": 3.0, "bias": -1.0}}}}
    render(tmp_path, vortex=fixture_inputs(tmp_path, flows, {"ridge": good, "cnn": None}))
    page = Tables((tmp_path / "index.html").read_text())
    assert row(page.tables["metrics"], "cnn")[2] == "no results (the model failed or was not run)"
    assert row(page.tables["metrics"], "ridge")[2:8] == ["0.5000", "1.0", "2.0", "0.2500", "3.0", "4.0"]
    assert row(page.tables["per-reynolds"], "cnn")[1] == "missing"
    missing = row(page.tables["physics-table"], "300")
    assert missing[3] == "missing" and missing[6] == "cannot check" and missing[7] == "missing"
    assert [cells[0] for cells in page.tables["class-balance"][1:]] == ["300", "1200", "all"]  # in ascending Re
    assert "0.000" not in " ".join(missing)
    assert row(page.tables["physics-table"], "600")[6] == "outside band"
    assert row(page.tables["physics-table"], "600")[10] == "within band" and missing[10] == "cannot check"
    html = (tmp_path / "index.html").read_text()
    assert re.search(r"Outside the band:</span> St at Re 600 \(\+116%\)\.", html)  # named in words, not only drawn
    assert "not a git checkout" in " ".join(row(page.tables["versions"], "workflow commit"))


def test_every_flow_inside_both_bands_is_said_so(tmp_path):
    flows = [{"reynolds": re, "source": "simulate", "snapshots": 10, "strouhal": strouhal_check(re, strouhal_reference(re) * 1.02),
              "drag_coefficient": drag_check(re, drag_reference(re) * 0.95)} for re in (100.0, 1000.0)]
    render(tmp_path, vortex=fixture_inputs(tmp_path, flows, {}))
    assert "Every flow lies within both bands." in (tmp_path / "index.html").read_text()


def test_drag_reference_passes_through_the_published_2d_values():
    assert drag_reference(100) == pytest.approx(1.34) and drag_reference(1000) == pytest.approx(1.51)
    assert 1.34 < drag_reference(300) < 1.51 and drag_reference(20) is None
    assert drag_check(1000, 1.40)["within"] is True and drag_check(1000, 1.30)["within"] is False  # ±10 %


def test_strouhal_reference_is_henderson_2d_fit():
    assert strouhal_reference(100) == pytest.approx(0.164, abs=0.002)
    assert strouhal_reference(200) == pytest.approx(0.197, abs=0.002)
    assert strouhal_reference(1200) == pytest.approx(0.245, abs=0.002)
    assert strouhal_reference(20) is None
    assert strouhal_check(300, 0.21)["within"] is True
    assert strouhal_check(300, float("nan"))["measured"] is None


def test_solver_validation_table_shows_values_references_and_checks(tmp_path):
    rows = [{"case": "unconfined-re100", "grid": "480x320", "quantity": "strouhal", "value": 0.17, "low": 0.157, "high": 0.173,
             "source": "Park et al.", "passed": True},
            {"case": "unconfined-re100", "grid": "480x320", "quantity": "drag_coefficient", "value": 1.5, "low": 1.206, "high": 1.474,
             "source": "Park et al.", "passed": False}]
    (tmp_path / "validation.json").write_text(json.dumps({"cases": rows}))
    inputs = fixture_inputs(tmp_path, [], {})
    render(tmp_path, vortex=inputs | {"validation": tmp_path / "validation.json"})
    table = Tables((tmp_path / "index.html").read_text()).tables["validation-table"]
    assert table[1] == ["unconfined-re100", "480x320", "St", "0.1700", "0.1570–0.1730", "+3.0 %", "within", "Park et al."]
    assert table[2][2] == "mean c_D" and table[2][5:7] == ["+11.9 %", "outside"]
    render(tmp_path, vortex=inputs)
    assert "validation-table" not in Tables((tmp_path / "index.html").read_text()).tables


def duffing_metrics(model: str, test_r2: dict[str, float]) -> dict:
    def scores(r2):
        return {target: {"r2": r2[target], "rmse": 0.1, "mae": 0.05, "bias": 0.0, "n": 10} for target in r2}

    return {"model": model, "device": "CPU", "spec": {"type": model}, "targets": list(test_r2),
            "train": scores({t: 0.99 for t in test_r2}), "val": scores(test_r2), "test": scores(test_r2)}


def test_duffing_section_alone_with_goal_checks_and_missing_models(tmp_path):
    figures = {}
    for name in DUFFING_FIGURES:
        figures[name] = tmp_path / f"duffing_{name}.png"
        figures[name].write_bytes(PNG)
    models = {"cnn": duffing_metrics("cnn", {"omega0": 0.99, "gamma": 0.96, "epsilon": 0.5}),
              "cnn_small": duffing_metrics("cnn", {"omega0": 0.99, "gamma": 0.90, "epsilon": 0.2}),
              "mlp": duffing_metrics("mlp", {"omega0": 0.9, "gamma": 0.9, "epsilon": 0.1}), "ridge": None}
    model_dirs = {}
    for name, metrics in models.items():
        model_dirs[name] = tmp_path / name
        model_dirs[name].mkdir()
        if metrics:
            (model_dirs[name] / "metrics.json").write_text(json.dumps(metrics))
    split = tmp_path / "curves.json"
    split.write_text(json.dumps({"seed": 0, "train_samples": 64, "counts": {"train": 64, "val": 10, "test": 10, "unused": 16}}))
    settings = {"seed": 0, "parameters": {"omega0": [-1, 1], "gamma": [0.5, 1.5], "epsilon": [0, 0.15]},
                "sweep": {"frequency": [-4, 4], "duration": 200, "steps": 400},
                "curves": {"force": 1.0, "frequency_bins": 50}, "images": {"force": [0.1, 2.0], "force_bins": 50, "frequency_bins": 50, "noise": 0.5}}
    render(tmp_path, duffing={"figures": figures, "model_dirs": model_dirs, "split_summaries": {"curves": split}, "settings": settings})
    html = (tmp_path / "index.html").read_text()
    page = Tables(html)
    assert "Data" not in page.headings and "metrics" not in page.tables  # no vortex street section
    metrics = page.tables["duffing-metrics"]
    assert row(metrics, "cnn")[-1] == "met" and row(metrics, "cnn_small")[-1] == "not met" and row(metrics, "mlp")[-1] == "—"
    assert row(metrics, "cnn")[2:6] == ["0.990", "0.990", "0.990", "0.1"]
    assert row(metrics, "ridge")[2] == "no results (the model failed or was not run)"
    assert row(page.tables["duffing-splits"], "curves") == ["curves", "64", "10", "10", "16"]
    assert "Small-data case: only 64 training samples" in html
