"""The page at `/` in a real headless Chromium: upload a fixture, see the transcript with its
timings, download the SRT, which is what `transcribe --format srt` writes."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.serve.conftest import API_KEY, Server
from tests.conftest import MEDIA

webdriver = pytest.importorskip("selenium.webdriver")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="needs chromium and chromedriver (apt-get install chromium chromium-driver)",
)
WAIT_SECONDS = 180.0


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    yield from _chromium(tmp_path)


def _chromium(tmp_path: Path, *args: str) -> Iterator[object]:
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    headless = ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu")
    for arg in (*headless, *args):
        options.add_argument(arg)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(tmp_path), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(service=Service(executable_path=str(DRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _until(check: object, what: str) -> object:
    """Poll `check` until it returns something true; fail naming `what` after a long wait."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        value = check()  # type: ignore[operator]
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"never saw {what}")


def test_upload_shows_the_transcript_and_downloads_srt(
    server: Server, browser: object, tmp_path: Path, cli_outputs: dict[str, str]
) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    driver.get(server.url + "/")  # type: ignore[attr-defined]
    find = driver.find_element  # type: ignore[attr-defined]
    find(By.ID, "key").send_keys(API_KEY)
    find(By.ID, "file").send_keys(str(MEDIA / "speech.wav"))
    _until(lambda: "fox" in find(By.ID, "text").text.lower(), "the transcript")
    rows = find(By.ID, "segments").find_elements(By.TAG_NAME, "tr")
    assert rows and "→" in rows[0].text and "0:00.00" in rows[0].text
    find(By.ID, "dl-srt").click()
    srt = _until(lambda: _downloaded(tmp_path, "*.srt"), "the SRT download")
    assert srt[0].read_text(encoding="utf-8") == cli_outputs["srt"]  # type: ignore[index]


def _downloaded(folder: Path, pattern: str) -> list[Path]:
    """The finished downloads matching `pattern`: a file counts once it has bytes and no
    .crdownload is left beside it, so a name seen before Chromium has written to it is not
    read as the download."""
    if any(folder.glob("*.crdownload")):
        return []
    return [p for p in folder.glob(pattern) if p.stat().st_size > 0]


@pytest.fixture
def microphone(tmp_path: Path) -> Iterator[object]:
    """A Chromium whose microphone plays speech.wav once (then silence), permission granted."""
    yield from _chromium(
        tmp_path,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={MEDIA / 'speech.wav'}%noloop",
        "--autoplay-policy=no-user-gesture-required",
    )


def test_live_button_streams_the_microphone_and_shows_text_as_it_comes(
    server: Server, microphone: object
) -> None:
    """Live: the fake microphone's speech is committed segment by segment while the
    microphone is still on (rows appear before Stop, the last sentence's once the speech
    ends in silence), then Stop ends the session with the whole text."""
    from selenium.webdriver.common.by import By

    driver = microphone
    driver.get(server.url + "/")  # type: ignore[attr-defined]
    find = driver.find_element  # type: ignore[attr-defined]
    find(By.ID, "key").send_keys(API_KEY)
    find(By.ID, "live").click()
    _until(lambda: "Listening" in find(By.ID, "status").text, "the session open")
    rows = _until(
        lambda: find(By.ID, "segments").find_elements(By.TAG_NAME, "tr"), "a committed segment"
    )
    assert "→" in rows[0].text  # type: ignore[index]
    _until(lambda: "test" in find(By.ID, "segments").text.lower(), "the last sentence committed")
    assert find(By.ID, "live").text == "Stop"  # still streaming
    find(By.ID, "live").click()
    _until(lambda: "Done" in find(By.ID, "status").text, "the done event")
    text = find(By.ID, "text").text.lower()
    assert "quick" in text and "test" in text, text
    assert find(By.ID, "live").text == "Live"
