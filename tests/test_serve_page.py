"""The model page at ``/``: its markup escapes every bundle string, and in a real browser (headless
Chromium from the Debian packages, driven by selenium) on a real ``automl serve`` the "try one
row" form shows the predicted label and one probability bar per class, the server's message on a
rejected request, and a curl command that gets the same reply.

The screenshot in the README is made by the same code on a finished run::

    python tests/test_serve_page.py runs/quickstart docs/serve-page.png
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait
from serving import Server, build_bundle

from automl.data import FeatureSchema
from automl.results import ModelBundle
from automl.serve import TOKEN_VARIABLE
from automl.serve._page import model_page

EVIL = "<script>alert(1)</script>"
TOKEN = "page-test-token"


def _bare_bundle(classes: tuple[str, ...], info: dict) -> ModelBundle:
    """A bundle with no member: enough for the page, which never predicts."""
    schema = FeatureSchema(("x1", EVIL, "colour"), ("colour",))
    return ModelBundle([], classes, schema, "id", info)


class _Tags(HTMLParser):
    """The start tags of a page and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_every_bundle_string_is_escaped_in_the_markup_and_the_script_data(tmp_path: Path) -> None:
    info = {
        "target": EVIL,
        "architecture": EVIL,
        "final_model": "ensemble",
        "ensemble": {EVIL: 0.7, "trial 2": 0.3},
        "ensemble_method": "greedy",
        "cv": {"metric": "log_loss", "mean": 0.25, "std": 0.01},
        "versions": {EVIL: EVIL},
        "example": {"x1": 1.5, EVIL: 2.0, "colour": EVIL},
    }
    (tmp_path / "leaderboard.csv").write_text(
        f"rank,trial,state,log_loss,architecture\n1,,ensemble,0.25,{EVIL}\n2,2,complete,0.3,a\n"
    )
    page = model_page(_bare_bundle(("cat", EVIL), info), tmp_path, model_name=EVIL)

    parsed = _Tags()
    parsed.feed(page)
    assert parsed.tags.count("script") == 2  # the page's data and its code, nothing injected
    assert EVIL not in page.split('<script type="application/json"')[0]
    text = "".join(parsed.text)
    # the model name, target, a column, an example value, an ensemble member, a leaderboard
    # cell, a version, a class: each shown as text
    assert text.count(EVIL) >= 9
    data = page.split('id="model-data">')[1].split("</script>")[0]
    assert "<" not in data and ">" not in data and "&" not in data
    assert json.loads(data)["classes"] == ["cat", EVIL]


def test_the_leaderboard_is_found_beside_the_bundle_and_marks_the_served_row(
    tmp_path: Path,
) -> None:
    info = {"trial": 4, "cv": {"metric": "accuracy", "mean": 0.9, "std": None}}
    bundle = _bare_bundle(("a", "b"), info)
    (tmp_path / "best").mkdir()
    (tmp_path / "best" / "bundle.json").write_text("{}")
    assert "Leaderboard" not in model_page(bundle, tmp_path / "best", model_name="m")
    (tmp_path / "leaderboard.csv").write_text(
        "rank,trial,state,accuracy,std,seconds\n1,7,complete,0.95,0.01,3\n2,4,complete,0.9,,2\n"
    )
    for source in (tmp_path, tmp_path / "best"):
        page = model_page(bundle, source, model_name="m")
        board = page.split("<h2>Leaderboard</h2>")[1]
        assert "<tr class='served'><td>2</td><td>4</td>" in board
        assert "<th>seconds</th>" not in board  # the card shows its own few columns
        assert "0.9000 ± " not in page  # a missing std is left out, not shown as nan


def test_an_ensemble_shows_its_members_and_their_weights(tmp_path: Path) -> None:
    info = {
        "final_model": "ensemble",
        "ensemble": {"trial 3": 0.6, "reference": 0.4},
        "ensemble_method": "greedy",
    }
    page = model_page(_bare_bundle(("a", "b"), info), tmp_path, model_name="m")
    members = page.split("<h3>Members</h3>")[1].split("</table>")[0]
    assert "<td>trial 3</td><td>0.6</td>" in members
    assert 'data-share="0.4000"' in members


# The page in a real browser, on a real server.

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
CLASSES = ("ok", EVIL)


def start_browser() -> WebDriver:
    """Headless Chromium, its console log kept for the tests to read."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    options.add_argument("--headless=new")
    options.add_argument("--window-size=1280,1000")
    if os.geteuid() == 0:  # Chromium's sandbox does not run as root
        options.add_argument("--no-sandbox")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(str(DRIVER)), options=options)


def predict_on_page(driver: WebDriver, url: str, token: str = "") -> None:
    """Load the page at ``url``, submit its form (with ``token``) and wait for the answer."""
    driver.get(url)
    if token:
        driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.ID, "submit").click()
    WebDriverWait(driver, 30).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#prediction-label, #prediction-error")
    )


def save_screenshot(driver: WebDriver, path: Path) -> None:
    """The whole page, not only the window, as a PNG."""
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
    )
    path.write_bytes(base64.b64decode(shot["data"]))


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder: a tiny real bundle, one of its classes named like a script tag, and a
    leaderboard."""
    run = tmp_path_factory.mktemp("run")
    build_bundle(run / "best", CLASSES)
    (run / "leaderboard.csv").write_text(
        "rank,trial,state,log_loss,std\n1,0,complete,0.41,0.05\n2,1,complete,0.5,0.06\n"
    )
    return run


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    if not (CHROMIUM and DRIVER):
        pytest.skip(
            "headless Chromium is not installed (apt-get install chromium chromium-driver; "
            ".ci/run installs it)"
        )
    driver = start_browser()
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def url(run_folder: Path, browser: WebDriver) -> Iterator[str]:
    with Server(run_folder, run_folder / "server", env={TOKEN_VARIABLE: TOKEN}) as server:
        yield f"{server.url}/"


@pytest.fixture(scope="module")
def answered(browser: WebDriver, url: str) -> dict[str, Any]:
    """What the page shows once its form was submitted with the token."""
    predict_on_page(browser, url, TOKEN)
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert  # noqa: B018 (the property raises when no alert is open)
    return {
        **browser.execute_script(_READ_PAGE),
        "console": [e for e in browser.get_log("browser") if e["level"] == "SEVERE"],
    }


_READ_PAGE = """
const text = (node) => node.textContent;
return {
  label: text(document.getElementById("prediction-label")),
  bars: [...document.querySelectorAll("#probabilities .bar")].map((bar) => ({
    name: text(bar.querySelector(".bar-name")),
    probability: Number(bar.dataset.probability),
    shown: bar.querySelector(".bar-fill").getBoundingClientRect().width
      / bar.querySelector(".bar-track").getBoundingClientRect().width,
  })),
  classes: [...document.querySelectorAll("#classes .chip")].map(text),
  scripts: document.scripts.length,
  requests: performance.getEntries()
    .filter((e) => e.entryType === "navigation" || e.entryType === "resource")
    .map((e) => e.name),
  curl: text(document.getElementById("curl")),
};
"""


def test_the_form_shows_the_predicted_label_and_a_bar_per_class(
    answered: dict[str, Any], run_folder: Path
) -> None:
    row = _sent_row(answered["curl"])
    expected = ModelBundle.load(run_folder / "best").prediction_frame(pd.DataFrame([row]))
    assert answered["label"] == str(expected["label"][0])
    bars = answered["bars"]
    assert sorted(bar["name"] for bar in bars) == sorted(CLASSES)
    assert [bar["probability"] for bar in bars] == sorted(
        (bar["probability"] for bar in bars), reverse=True
    )
    assert bars[0]["name"] == answered["label"]
    for bar in bars:
        assert bar["probability"] == pytest.approx(expected[bar["name"]][0], abs=1e-6)
        assert bar["shown"] == pytest.approx(bar["probability"], abs=0.02)


def test_a_class_named_like_a_script_tag_is_shown_as_text(answered: dict[str, Any]) -> None:
    assert EVIL in answered["classes"]
    assert EVIL in [bar["name"] for bar in answered["bars"]]
    assert answered["scripts"] == 2  # the page's data and its code: nothing injected ran or stayed


def test_the_page_requests_nothing_outside_its_server(answered: dict[str, Any], url: str) -> None:
    assert f"{url}invocations" in answered["requests"]
    assert all(request.startswith(url) for request in answered["requests"]), answered["requests"]
    assert answered["console"] == []  # no script error, no request refused by the page's policy


def test_the_curl_command_gets_the_same_answer(answered: dict[str, Any]) -> None:
    if not shutil.which("curl"):
        pytest.skip("curl is not installed")
    done = subprocess.run(
        ["bash", "-c", answered["curl"]],
        env={**os.environ, TOKEN_VARIABLE: TOKEN},
        capture_output=True,
        text=True,
        check=True,
    )
    (prediction,) = json.loads(done.stdout)["predictions"]
    assert str(prediction["label"]) == answered["label"]
    for bar in answered["bars"]:
        assert prediction[bar["name"]] == pytest.approx(bar["probability"], abs=1e-9)


def test_a_refused_request_shows_the_servers_message(
    answered: dict[str, Any], browser: WebDriver, url: str
) -> None:
    """Runs after the tests that read ``answered`` (taken before this reloads the page)."""
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(f"{url}invocations", b"{}", headers, method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    message = json.loads(refused.value.read())["message"]
    predict_on_page(browser, url)  # no token
    error = browser.find_element(By.ID, "prediction-error").text
    assert error.splitlines() == ["HTTP 401", message]


def _sent_row(curl: str) -> dict[str, Any]:
    """The row in the ``-d`` body of the page's curl command."""
    body = curl.split(" -d '", 1)[1].rsplit("'", 1)[0]
    (row,) = json.loads(body.replace("'\\''", "'"))["dataframe_records"]
    return row


def main(source: str, png: str) -> None:
    """Serve ``source`` (a run or bundle folder), predict the page's example row, save the page."""
    driver = start_browser()
    try:
        with tempfile.TemporaryDirectory() as folder, Server(Path(source), Path(folder)) as server:
            predict_on_page(driver, f"{server.url}/")
            save_screenshot(driver, Path(png))
    finally:
        driver.quit()


if __name__ == "__main__":
    main(*sys.argv[1:])
