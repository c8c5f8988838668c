"""The intervention explorer of notebook 05 in a real JupyterLab, driven through headless Chromium.

A fixture writes a temporary notebook whose last cell is notebook 05's explorer cell, verbatim,
set up as for a reader without a run folder (so it opens the shipped Pendulum checkpoint,
``icm_utils.explore.pretrained``), and starts JupyterLab on it (loopback, empty token, a temporary root).
The test then acts only through the page, with the mouse and keyboard, as a reader would.

Needs a Chromium (Debian: ``apt-get install -y --no-install-recommends chromium-headless-shell``);
without one the test is skipped, except under CI=true, where it fails. Select or deselect it
with ``-m browser`` / ``-m "not browser"``.
"""
from __future__ import annotations

import base64
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from icm_utils.core.paths import FIGURES_DIR, NOTEBOOKS_DIR

pytestmark = pytest.mark.browser
IN_CI = os.environ.get("CI", "").lower() == "true"
try:  # the test extras; their pytest plugin provides the page fixture
    import pytest_playwright  # noqa: F401
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:
    if IN_CI:
        raise
    pytest.skip("playwright is not installed: pip install -e '.[test]'", allow_module_level=True)

INSTALL = "apt-get install -y --no-install-recommends chromium-headless-shell"
CHROMIUMS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")
SCREENSHOT = FIGURES_DIR / "05_explorer_jupyterlab.png"
TIMEOUT_MS = int(os.environ.get("ICM_BROWSER_TIMEOUT_MS", 60_000))


def _missing(what: str) -> None:
    """Skip, or fail under CI=true: a browser test that CI silently skips cannot fail."""
    if IN_CI:
        pytest.fail(f"{what} (CI=true, so this fails instead of skipping)")
    pytest.skip(what)


def find_chromium() -> str | None:
    exe = os.environ.get("ICM_CHROMIUM")
    if exe:
        return exe if Path(exe).is_file() else None
    return next((p for p in map(shutil.which, CHROMIUMS) if p), None)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    exe = find_chromium()
    if exe is None:
        _missing(f"no Chromium found; install one with: {INSTALL}")
    return exe


# pytest-playwright's fixtures, pointed at the system Chromium: no browser download is needed
@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, chromium_path):
    return {**browser_type_launch_args, "executable_path": chromium_path,
            "args": ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 860}}


def explorer_cell_source() -> str:
    """Notebook 05's explorer cell, so the test builds the explorer exactly as the notebook does."""
    nb = json.loads((NOTEBOOKS_DIR / "05_counterfactuals.ipynb").read_text())
    cells = ["".join(c["source"]) for c in nb["cells"]
             if c["cell_type"] == "code" and "notebook_explorer(" in "".join(c["source"])]
    assert len(cells) == 1, "notebook 05 should have one cell that builds the explorer"
    return cells[0]


def _notebook(cells: list[str]) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                        "language": "python"}},
            "cells": [{"cell_type": "code", "id": f"cell{i}", "metadata": {}, "source": src,
                       "outputs": [], "execution_count": None} for i, src in enumerate(cells)]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def lab(tmp_path_factory, chromium_path):
    """A notebook mirroring notebook 05's explorer on the shipped Pendulum checkpoint (as a reader
    without a run folder gets it), and JupyterLab serving it."""
    root = tmp_path_factory.mktemp("lab")
    # The names notebook 05's explorer cell reads, as notebook 05 sets them without a RUN_DIR.
    setup = "\n".join([
        "from types import SimpleNamespace",
        "from icm_utils.data.datasets import load_dataset",
        "from icm_utils.explore import pretrained",
        "DATASET, SEED, MODELS, SEEDS, models, probe = 'pendulum', 0, ['icm_vae'], [0], {}, None",
        "run = SimpleNamespace(run_dir_given=False)",
        "ds = load_dataset(DATASET, resolution=64)",
        "print('ready')",
    ])
    (root / "explorer.ipynb").write_text(json.dumps(_notebook([setup, explorer_cell_source()])))

    settings = root / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    # no news or update checks (no network here), so no toast covers the page
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(root / "lab-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(root / "lab-workspaces"),
           "JUPYTER_RUNTIME_DIR": str(root / "runtime"), "PYTHONUNBUFFERED": "1"}
    port = _free_port()
    log = open(root / "jupyterlab.log", "w")  # closed at teardown
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
         f"--port={port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
         "--ServerApp.password=", f"--ServerApp.root_dir={root}",
         "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited: {(root / 'jupyterlab.log').read_text()[-3000:]}")
            try:
                _get_json(f"{base}/api/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        yield {"base": base, "root": root}
    finally:
        proc.send_signal(signal.SIGTERM)  # stops its kernels too
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


# ---------------------------------------------------------------- reading the page
def _blob_bytes(page, img) -> bytes:
    """The bytes behind an ipywidgets Image (a blob: URL), as the browser holds them."""
    b64 = img.evaluate("""async el => {
        const buf = await (await fetch(el.src)).arrayBuffer();
        let s = ''; for (const b of new Uint8Array(buf)) s += String.fromCharCode(b);
        return btoa(s); }""")
    return base64.b64decode(b64)


def _pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def _num(text: str) -> float:
    """A number as the page shows it (the slider readout writes a Unicode minus sign)."""
    return float(text.strip().replace("\u2212", "-"))


def _table(page) -> dict[str, dict[str, str]]:
    """The explorer's table of values: {variable: {column: text}}."""
    rows = page.locator(".icm-explorer-table tr").all_inner_texts()
    head = rows[0].split("\t")
    return {cells[0]: dict(zip(head, cells)) for cells in (r.split("\t") for r in rows[1:])}


def _wait_idle(page) -> None:
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=TIMEOUT_MS)


def _next_variable(page, name: str) -> None:
    """Click the variable dropdown, ArrowDown to the next variable, Enter; wait until the table
    shows ``name`` as the intervened one and the kernel is idle."""
    page.locator(".icm-explorer-variable select").click()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_function("(name) => document.querySelector('.icm-explorer-table').innerText"
                           ".split('\\n').some(r => r.startsWith(name) &&"
                           " r.includes('intervened'))", arg=name, timeout=TIMEOUT_MS)
    _wait_idle(page)


def _drag_slider(page, dx: float) -> None:
    """Press the value slider's handle with the mouse, drag it `dx` pixels, release."""
    handle = page.locator(".icm-explorer-value .noUi-handle")
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y, steps=8)
    page.mouse.up()


def _type_value(page, text: str) -> None:
    box = page.locator(".icm-explorer-typed input")
    box.click()
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def _changed(page, selector: str, old: str) -> str:
    """Wait until the element's text differs from `old`; return the new text."""
    page.wait_for_function("([sel, old]) => { const e = document.querySelector(sel);"
                           " return e && e.innerText !== old; }", arg=[selector, old],
                           timeout=TIMEOUT_MS)
    return page.locator(selector).inner_text()


def _src_changed(page, old: str) -> None:
    page.wait_for_function("old => { const e = document.querySelector("
                           "'.icm-explorer-model-counterfactual'); return e && e.src !== old; }",
                           arg=old, timeout=TIMEOUT_MS)


def _saved_snapshot(path: Path, state: str) -> dict:
    """Wait until the saved notebook holds the explorer's static snapshot of `state`; return it."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        outputs = [o.get("data", {}) for c in json.loads(path.read_text())["cells"]
                   for o in c.get("outputs", [])]
        snaps = [d for d in outputs if "image/png" in d and "snapshot" in "".join(d["text/plain"])]
        if snaps and state in "".join(snaps[-1]["text/plain"]):
            return snaps[-1]
        if time.monotonic() > deadline:
            raise AssertionError(f"no saved snapshot of {state!r} in {path}: {snaps and snaps[-1]}")
        time.sleep(0.25)


def _started_kernel(page, base: str) -> str:
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        kernels = page.request.get(f"{base}/api/kernels").json()
        if kernels and kernels[0]["execution_state"] == "idle":
            return kernels[0]["id"]
        if time.monotonic() > deadline:
            raise AssertionError(f"no idle kernel after {TIMEOUT_MS / 1000:.0f} s: {kernels}")
        page.wait_for_timeout(250)


def _kernel_alive(page, base: str, kernel_id: str) -> None:
    """Same kernel as at the start (no restart, no death), and idle."""
    kernels = page.request.get(f"{base}/api/kernels").json()
    assert [k["id"] for k in kernels] == [kernel_id]
    assert kernels[0]["execution_state"] == "idle"


# ---------------------------------------------------------------- the test
def test_explorer_in_jupyterlab(lab, page):
    base = lab["base"]
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{base}/lab/tree/explorer.ipynb")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=TIMEOUT_MS)
    # A fresh kernel can drop an execution sent before it reports idle: wait for the server to
    # have started it and for the page to show it idle.
    kernel_id = _started_kernel(page, base)
    _wait_idle(page)
    page.keyboard.press("Control+b")  # close the file browser: room for the explorer
    page.locator("#jp-left-stack").wait_for(state="hidden")

    # Run both cells with the keyboard: click into the first, Shift+Enter twice.
    page.locator(".jp-Notebook .jp-Cell .cm-content").first.click()
    page.keyboard.press("Shift+Enter")
    page.keyboard.press("Shift+Enter")
    try:
        page.wait_for_selector(".icm-explorer-model-counterfactual[src^='blob:']", timeout=TIMEOUT_MS)
    except PlaywrightTimeout:
        outputs = "\n".join(page.locator(".jp-OutputArea-output").all_inner_texts())
        raise AssertionError(f"the explorer did not appear; the cells' outputs:\n{outputs}") from None
    _wait_idle(page)
    assert page.locator(".jp-OutputArea-output:has-text('ready')").count() == 1
    # the static snapshot is in the output but hidden in JupyterLab (shown where widgets are not)
    assert page.locator(".jp-Notebook img[src^='data:image/png']").count() == 0

    # Notebook 05 set do(pendulum_angle = 20) before display.
    assert page.locator(".icm-explorer-variable select").input_value() == "pendulum_angle"
    value_readout = ".icm-explorer-value .widget-readout"
    assert _num(page.locator(value_readout).inner_text()) == pytest.approx(20.0, abs=0.8)
    table0 = _table(page)
    assert table0["pendulum_angle"]["role"] == "intervened"
    assert table0["shadow_length"]["role"] == table0["shadow_position"]["role"] == "descendant"
    assert table0["light_position"]["role"] == "non-descendant"
    img = page.locator(".icm-explorer-model-counterfactual")
    src0, png0 = img.get_attribute("src"), _blob_bytes(page, img)

    # 1. Move the pendulum_angle slider with the mouse: new counterfactual image and values.
    readout0 = page.locator(value_readout).inner_text()
    _drag_slider(page, -90)
    readout1 = _changed(page, value_readout, readout0)
    _src_changed(page, src0)
    _wait_idle(page)
    png1 = _blob_bytes(page, img)
    assert png1 != png0, "the model counterfactual image did not change"
    assert np.abs(_pixels(png1) - _pixels(png0)).max() > 0, "same pixels after the slider move"
    angle = _num(readout1)
    assert angle < 20.0 - 5
    table1 = _table(page)
    assert _num(table1["pendulum_angle"]["true cf"]) == pytest.approx(angle, abs=0.01)
    for v in ("shadow_length", "shadow_position"):  # descendants follow the intervention
        assert table1[v]["true cf"] != table0[v]["true cf"], v
    # the probe reads the new angle off the model's image: the model's counterfactual followed
    probe0, probe1 = (_num(t["pendulum_angle"]["model cf (probe)"]) for t in (table0, table1))
    assert probe1 < probe0 - 5, (probe0, probe1)
    assert all(np.isfinite(_num(row["model cf (probe)"])) for row in table1.values())
    # the non-descendant keeps its factual value in the true counterfactual
    assert table1["light_position"]["true cf"] == table1["light_position"]["factual"]
    assert page.locator(".icm-explorer-message").inner_text().strip() == ""

    # The static snapshot in the output follows the state: save (Ctrl+S) and read the file.
    page.keyboard.press("Control+s")
    snap = _saved_snapshot(lab["root"] / "explorer.ipynb", f"do(pendulum_angle = {angle:.2f})")
    assert _pixels(base64.b64decode(snap["image/png"])).shape[2] == 3

    # 2. Switch the variable: click the dropdown, ArrowDown to the next variable, Enter.
    _next_variable(page, "light_position")
    assert page.locator(".icm-explorer-variable select").input_value() == "light_position"
    table2 = _table(page)
    assert table2["pendulum_angle"]["role"] == "non-descendant"
    assert table2["shadow_length"]["role"] == table2["shadow_position"]["role"] == "descendant"
    # the slider now spans light_position's range and starts at this unit's factual value
    assert _num(page.locator(value_readout).inner_text()) == pytest.approx(
        _num(table2["light_position"]["factual"]), abs=0.8)

    # 3. Type an out-of-range value: clipped into the range, with a message saying so.
    _type_value(page, "999")
    msg = page.locator(".icm-explorer-message")
    msg.filter(has_text="outside").wait_for(timeout=TIMEOUT_MS)
    assert "999 is outside light_position's range" in msg.inner_text()
    assert "clipped to 132.3" in msg.inner_text()
    _wait_idle(page)
    assert _table(page)["light_position"]["true cf"] == "132.30"
    assert page.locator(".icm-explorer-typed input").input_value() == ""

    # 4. Type a non-number: refused with a message, the last good state kept.
    src_before = img.get_attribute("src")
    _type_value(page, "abc")
    msg.filter(has_text="not a number").wait_for(timeout=TIMEOUT_MS)
    assert "refused" in msg.inner_text() and "'abc' is not a number" in msg.inner_text()
    _wait_idle(page)
    assert img.get_attribute("src") == src_before
    _kernel_alive(page, base, kernel_id)

    # 5. The kernel is alive: the next slider move still computes a new counterfactual.
    png_before = _blob_bytes(page, img)
    _drag_slider(page, -150)
    _src_changed(page, src_before)
    _wait_idle(page)
    assert _blob_bytes(page, img) != png_before
    assert msg.inner_text().strip() == ""  # a good value clears the message
    assert _num(_table(page)["light_position"]["true cf"]) < 132.3
    _kernel_alive(page, base, kernel_id)

    # 6. A caused variable: switch to shadow_length and drag its slider. The shipped Pendulum
    # checkpoint has object slots, so the shadow moves and the pendulum and sun stay.
    _next_variable(page, "shadow_length")
    table3 = _table(page)
    assert table3["pendulum_angle"]["role"] == table3["light_position"]["role"] == "non-descendant"
    src3, readout3 = img.get_attribute("src"), page.locator(value_readout).inner_text()
    _drag_slider(page, 160)
    length = _num(_changed(page, value_readout, readout3))
    _src_changed(page, src3)
    _wait_idle(page)
    table4 = _table(page)
    factual = _num(table4["shadow_length"]["factual"])
    assert length > factual + 2  # a longer shadow asked for
    read = _num(table4["shadow_length"]["model cf (probe)"])
    assert abs(read - length) < abs(factual - length) / 2, (read, length, factual)
    for v, tol in (("pendulum_angle", 5.0), ("light_position", 5.0)):  # the causes stay
        assert abs(_num(table4[v]["model cf (probe)"]) - _num(table4[v]["factual"])) < tol, v
    page.locator(".icm-explorer").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOT))
    _kernel_alive(page, base, kernel_id)
