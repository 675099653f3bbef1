"""fewbits demo, the web page: its endpoints over real HTTP, its refusals, two browsers at once, and
the page itself in headless Chromium (Debian's chromium and chromium-driver, through Selenium).

    FEWBITS_SCREENSHOT=results/demo.png python -m pytest tests/test_demo.py   # the README's picture
"""
import base64
import io
import json
import os
import shutil
import tempfile
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
from PIL import Image

import fewbits
from fewbits import zoo
from fewbits.codec import PhotoCodec
from fewbits.cli import compress as cli
from fewbits.cli import demo as demo_cli
from fewbits.demo import server

MODEL = "easyvqa-64"


@pytest.fixture(scope="module")
def url():
    """A real server on a free port of 127.0.0.1, in a thread, for the module's tests."""
    running = server.start()
    host, port = running.server_address[:2]
    yield f"http://{host}:{port}"
    running.shutdown()


def call(url, path, body=None, raw=None):
    """-> (HTTP status, JSON reply) of GET path, or of POST with `body` as JSON (or `raw` bytes)."""
    data = raw if raw is not None else json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def png_field(img, name="in.png"):
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return {"name": name, "data": base64.b64encode(buffer.getvalue()).decode()}


def noise(seed, size=(90, 60)):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8))


def test_compress_gives_the_apis_file_and_the_judges_answers(url, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))                   # where uploads may be, briefly
    status, sample = call(url, "/api/sample?data=easyvqa&i=7")
    assert status == 200 and sample["questions"] and len(sample["truth"]) == len(sample["questions"])
    status, reply = call(url, "/api/compress", {"model": MODEL, "image": sample["image"],
                                                "questions": sample["questions"] + ["what hue is the blob?"]})
    assert status == 200
    img = Image.open(io.BytesIO(base64.b64decode(sample["image"]["data"])))
    blob = fewbits.load(MODEL).compress([img])[0]
    assert base64.b64decode(reply["bin"]) == blob and reply["bits"] == 8 * len(blob) == 8 * reply["bytes"]
    assert [row["question"] for row in reply["answers"]][:-1] == sample["questions"]
    assert {j["judge"] for j in reply["answers"][0]["judges"]} == {"film", "fusion", "namer"}
    assert reply["unknown"] == ["blob", "hue"]
    decoded = Image.open(io.BytesIO(base64.b64decode(reply["decode"].split(",")[1])))
    assert decoded.size == (256, 256)
    status, again = call(url, "/api/decompress", {"bin": {"name": "x.bin", "data": reply["bin"]}, "questions": ["what shape is in the image?"]})
    assert status == 200 and again["decode"] == reply["decode"] and again["model"] == MODEL
    assert again["answers"][0]["judges"][0]["original"] is None                 # no original to ask about
    assert list(tmp_path.iterdir()) == []                                        # and nothing of them is left


def test_a_photo_codec_codes_the_photo_at_its_own_size_and_at_the_rate_chosen(url, monkeypatch):
    """A photo codec (untrained, small) named as a zoo codec: the file is the API's at the rate the
    page asked for, of the photo at its own size, and the decode comes back at the page's size in
    the photo's shape. A rate it doesn't offer, or a rate for a codec of fixed rate, is refused."""
    torch.manual_seed(0)
    weights = PhotoCodec(width=8, deep=16).state_dict()

    def load(name, quality=None):
        model = PhotoCodec(width=8, deep=16).eval()
        model.load_state_dict(weights)
        model.quality = quality or model.quality
        return fewbits.FileCodec(model, name)
    monkeypatch.setitem(zoo.MODELS, "photo-test", {"description": "a test photo codec", "kind": "codec",
                                                   "data": "photos-full", "bits": 100, "quality": 0.5})
    monkeypatch.setattr(zoo, "CODECS", [*zoo.CODECS, "photo-test"])
    monkeypatch.setattr(server, "load", load)
    server.codec_named.cache_clear()
    img = noise(3, (96, 160))                                                    # 160 wide, 96 high
    bits = {}
    for quality in (1.0, 0.25):
        status, reply = call(url, "/api/compress", {"model": "photo-test", "image": png_field(img), "quality": quality})
        assert status == 200, reply
        assert base64.b64decode(reply["bin"]) == load("photo-test", quality).compress([img])[0]
        assert reply["answers"] == []
        bits[quality] = reply["bits"]
    assert bits[0.25] < bits[1.0]
    decoded = Image.open(io.BytesIO(base64.b64decode(reply["decode"].split(",")[1])))
    assert decoded.size == (256, round(96 * 256 / 160))
    offered = {m["name"]: m for m in call(url, "/api/models")[1]}
    assert offered["photo-test"]["qualities"] == [1.0, 0.5, 0.25] and offered[MODEL]["qualities"] == []
    for model, quality, line in (("photo-test", 0.3, "the rate must be one of 1.0, 0.5, 0.25, not 0.3"),
                                 (MODEL, 0.5, f"{MODEL} has a fixed rate; a rate is for the photo codecs")):
        assert call(url, "/api/compress", {"model": model, "image": png_field(img), "quality": quality}) == \
            (400, {"error": line})
    server.codec_named.cache_clear()                                             # no test codec left in it


def test_the_command_refuses_bad_flags(capsys):
    assert demo_cli.main(["--port", "70000"]) == 2 and "--port must be in 0…65535" in capsys.readouterr().err
    assert demo_cli.main(["--benchmark", "0"]) == 2 and "--benchmark must be at least 1" in capsys.readouterr().err


def test_a_damaged_file_gets_the_command_lines_line(url, tmp_path, capsys):
    blob = fewbits.load(MODEL).compress([noise(0)])[0]
    for damaged in (blob[:-1], blob[:2] + bytes([blob[2] ^ 1]) + blob[3:]):
        (tmp_path / "x.bin").write_bytes(damaged)
        assert cli.main([str(tmp_path / "x.bin"), str(tmp_path / "x.png"), "--model", MODEL], decompress=True) == 2
        line = capsys.readouterr().err.strip().replace(str(tmp_path / "x.bin"), "x.bin")
        status, reply = call(url, "/api/decompress", {"bin": {"name": "x.bin", "data": base64.b64encode(damaged).decode()}})
        assert (status, "error: " + reply["error"]) == (400, line)
    status, reply = call(url, "/api/decompress", {"bin": {"name": "y.bin", "data": base64.b64encode(b"hello").decode()}})
    assert status == 400 and reply["error"] == "y.bin: not a fewbits file (no fewbits header)"


def test_bad_uploads_are_refused_in_one_line(url, monkeypatch):
    monkeypatch.setattr(server, "MAX_UPLOAD", 10_000)
    status, reply = call(url, "/api/compress", raw=b"x" * 20_000)
    assert status == 413 and reply["error"] == "the upload is 20,000 bytes; the limit is 10,000"
    status, reply = call(url, "/api/compress", raw=b"x" * 2_500_000)          # read in chunks, none past the end
    assert status == 413 and reply["error"] == "the upload is 2,500,000 bytes; the limit is 10,000"
    monkeypatch.undo()
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)                     # as the command line refuses a bomb
    status, reply = call(url, "/api/compress", {"model": MODEL, "image": png_field(noise(1), "big.png")})
    assert status == 400 and reply["error"].startswith("big.png: not a readable image (DecompressionBomb")
    monkeypatch.undo()
    for body, why in [({"model": MODEL, "image": {"name": "a.png", "data": "aGk="}}, "a.png: not a readable image"),
                      ({"model": MODEL, "image": {"name": "a.png", "data": "%%"}}, "a.png: the upload is not base64"),
                      ({"model": "/etc/passwd", "image": png_field(noise(1))}, "'/etc/passwd': not a codec of the zoo"),
                      ({"model": MODEL}, "no file in the request")]:
        status, reply = call(url, "/api/compress", body)
        assert status == 400 and reply["error"].startswith(why) and "\n" not in reply["error"]
    assert call(url, "/api/compress", raw=b"{not json")[0] == 400
    assert call(url, "/api/sample?data=easyvqa&i=x")[0] == 400
    assert call(url, "/api/nothing")[0] == 404


def test_two_browsers_at_once_each_get_their_own(url):
    images, replies = [noise(10), noise(11, (64, 64))], [None, None]
    barrier = threading.Barrier(2)

    def one(i):
        barrier.wait()
        replies[i] = call(url, "/api/compress", {"model": MODEL, "image": png_field(images[i])})[1]
    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = fewbits.load(MODEL).compress(images)
    assert [base64.b64decode(r["bin"]) for r in replies] == expected and expected[0] != expected[1]


def browser(tmp_path):
    """Headless Chromium through Debian's chromedriver, or a skip saying what is missing."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="no selenium: pip install -e '.[test]'")
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("no browser: apt-get install chromium chromium-driver (Debian) for the page's test")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=820,1000", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))


def test_the_page_in_a_real_browser(url, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
    page = browser(tmp_path)
    try:
        page.get(url)
        wait = WebDriverWait(page, 60)
        wait.until(lambda p: len(Select(p.find_element(By.ID, "model")).options) > 5)
        Select(page.find_element(By.ID, "model")).select_by_value(MODEL)
        noise(3).save(tmp_path / "mine.png")
        page.find_element(By.ID, "file").send_keys(str(tmp_path / "mine.png"))     # an upload, as a person makes it
        wait.until(lambda p: p.find_element(By.ID, "bits").text.endswith(" bits"))
        blob = fewbits.load(MODEL).compress([tmp_path / "mine.png"])[0]
        assert page.find_element(By.ID, "bits").text == f"{8 * len(blob)} bits"
        Select(page.find_element(By.ID, "data")).select_by_value("easyvqa")
        page.find_element(By.ID, "index").clear()
        page.find_element(By.ID, "index").send_keys("7")
        page.find_element(By.ID, "sample").click()
        wait.until(lambda p: p.find_elements(By.CSS_SELECTOR, "#answers td.answer"))
        _, sample = call(url, "/api/sample?data=easyvqa&i=7")
        _, reply = call(url, "/api/compress", {"model": MODEL, "image": sample["image"], "questions": sample["questions"]})
        first = page.find_elements(By.CSS_SELECTOR, "#answers td.answer")[0].text
        assert first == reply["answers"][0]["judges"][0]["decode"] and page.find_element(By.ID, "error").text == ""
        page.save_screenshot(os.environ.get("FEWBITS_SCREENSHOT") or str(tmp_path / "demo.png"))
    finally:
        page.quit()
