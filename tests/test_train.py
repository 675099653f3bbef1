"""train.py: a dry run on each data source, resume, and DistributedDataParallel with 2 CPU processes."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model import load_codec

ROOT = Path(__file__).resolve().parent.parent


def train(*args, module=None):
    cmd = module or [sys.executable, "train.py"]
    r = subprocess.run([*cmd, *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)).save(folder / f"{i}.jpg")
    return folder


@pytest.mark.parametrize("source, code", [("easyvqa", "global"), ("scenes", "global"), ("scenes", "grid"),
                                          ("folder", "global")])
def test_dry_run_writes_a_codec_that_compress_can_load(source, code, photos, tmp_path):
    data = str(photos) if source == "folder" else source
    train("--data", data, "--bits", 64, "--code", code, "--dry_run", "--out", tmp_path)
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["step"] == 1 and metrics[-1]["bits"] <= 3 * 8 + 64 + 8
    assert list((tmp_path / "samples").glob("*.png"))
    model = load_codec(tmp_path / "codec.pt")
    assert model.g_a.code == code
    strings = model.compress(torch.rand(2, 3, 64, 64))["strings"]
    assert model.decompress(strings)["x_hat"].shape == (2, 3, 64, 64)


def test_resume_continues_from_the_saved_step_and_optimiser(tmp_path):
    common = ("--data", "easyvqa", "--bits", 32, "--batch", 4, "--eval_every", 2, "--out", tmp_path)
    train(*common, "--steps", 2)
    before = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    train(*common, "--steps", 4, "--resume")
    after = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert before["step"] == 2 and after["step"] == 4
    assert after["opt_g"]["state"][0]["step"].item() == 4          # Adam's counter went on from 2
    assert after["minutes"] >= before["minutes"]                     # and the clock the budget counts
    # the last step (step 3 of 4) ran at lr × (1 - 3/4) / 0.3: the linear decay over the last 30%
    assert after["opt_g"]["param_groups"][0]["lr"] == pytest.approx(1e-3 * (1 - 3 / 4) / 0.3)
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 4]


def test_ddp_two_cpu_processes(tmp_path):
    train("--data", "easyvqa", "--bits", 32, "--batch", 4, "--steps", 3, "--eval_every", 3, "--out", tmp_path,
          module=[sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533", "train.py"])
    assert torch.load(tmp_path / "ckpt.pt", weights_only=True)["step"] == 3


@pytest.mark.parametrize("bad, word", [(("--data", "nowhere"), "nowhere"),
                                       (("--code", "grid", "--bits", 100), "multiple of 16"),
                                       (("--bits", 100), "multiple of 8")])
def test_bad_arguments_are_one_line_and_exit_2(bad, word, tmp_path):
    r = subprocess.run([sys.executable, "train.py", *map(str, bad), "--dry_run", "--out", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and word in r.stderr, r.stderr
