"""train.py: a dry run on each data source, resume, and DistributedDataParallel with 2 CPU processes."""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import files
from model import load_codec

ROOT = Path(__file__).resolve().parent.parent


def train(*args, module=None, cwd=ROOT):
    cmd = module or [sys.executable, str(ROOT / "train.py")]
    r = subprocess.run([*cmd, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=600)
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
                                          ("scenes", "map"), ("folder", "global")])
def test_dry_run_writes_a_codec_that_compress_can_load(source, code, photos, tmp_path):
    data = str(photos) if source == "folder" else source
    # easy-VQA runs from another folder: the shipped VQA models are still found, none is trained
    r = train("--data", data, "--bits", 64, "--code", code, "--dry_run", "--out", tmp_path,
              cwd=tmp_path if source == "easyvqa" else ROOT)
    assert "is missing" not in r.stdout
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    most = 2 * 64 + 2 * 16 if code == "map" else 64                  # map: the capacity, and its map
    assert metrics[-1]["step"] == 1 and metrics[-1]["bits"] <= 3 * 8 + most + 16
    assert list((tmp_path / "samples").glob("*.png"))
    model = load_codec(tmp_path / "codec.pt")
    assert model.g_a.code == code
    strings = model.compress(torch.rand(2, 3, 64, 64))["strings"]
    assert model.decompress(strings)["x_hat"].shape == (2, 3, 64, 64)


def test_init_starts_a_map_codec_from_a_grid_codecs_weights(tmp_path):
    """--init copies every tensor that fits; the map code's encoder has one more output channel, whose
    weights keep their initial values. One training step moves a weight by about lr = 1e-3 (Adam)."""
    train("--data", "scenes", "--bits", 64, "--code", "grid", "--dry_run", "--out", tmp_path / "grid")
    train("--data", "scenes", "--bits", 32, "--code", "map", "--init", tmp_path / "grid" / "codec.pt",
          "--dry_run", "--out", tmp_path / "map")
    grid, fine = load_codec(tmp_path / "grid" / "codec.pt"), load_codec(tmp_path / "map" / "codec.pt")
    assert fine.args["bits"] == 64 and fine.args["code"] == "map"     # --bits 32 on average: capacity 64
    for key, t in grid.state_dict().items():
        if not key.startswith("bit_model"):
            assert (fine.state_dict()[key][:len(t)] - t).abs().max() < 2e-3, key
    r = subprocess.run([sys.executable, "train.py", "--init", str(tmp_path / "nothing.pt"), "--dry_run",
                        "--out", str(tmp_path / "x")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "nothing.pt" in r.stderr


def test_steps_0_after_init_only_counts_the_coders_table(photos, tmp_path):
    """The command that gives an existing codec its counted table: every weight stays, only the bit
    model changes, and the files it writes decode."""
    train("--data", photos, "--bits", 64, "--code", "grid", "--dry_run", "--out", tmp_path / "a")
    r = train("--data", photos, "--bits", 64, "--code", "grid", "--init", tmp_path / "a" / "codec.pt",
              "--steps", 0, "--out", tmp_path / "b")
    assert "done: 0 steps" in r.stdout and "20000 training images" in r.stdout
    before, after = load_codec(tmp_path / "a" / "codec.pt"), load_codec(tmp_path / "b" / "codec.pt")
    for key, t in before.state_dict().items():
        assert key.startswith("bit_model") or torch.equal(t, after.state_dict()[key]), key
    x = torch.rand(4, 3, 64, 64)
    assert torch.equal(after.decompress(after.compress(x)["strings"])["x_hat"], before.decompress(before.compress(x)["strings"])["x_hat"])


def test_killed_run_resumes_from_its_checkpoint_with_its_own_flags(tmp_path):
    """SIGKILL after the first checkpoint; then --resume with nothing but --out continues from that
    step with the same optimiser state and the flags the checkpoint stored."""
    run = subprocess.Popen([sys.executable, "train.py", "--data", "easyvqa", "--bits", "32", "--batch", "4",
                            "--eval_every", "2", "--steps", "1000", "--out", str(tmp_path)],
                           cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (tmp_path / "ckpt.pt").exists() and run.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert run.returncode == -signal.SIGKILL
    killed = torch.load(tmp_path / "ckpt.pt", weights_only=True)      # written atomically: whole, never half
    step = killed["step"]
    assert step >= 2 and killed["args"]["bits"] == 32
    train("--out", tmp_path, "--resume", "--steps", step + 2)
    after = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert after["step"] == step + 2 and after["args"]["batch"] == 4 and after["model_args"]["bits"] == 32
    assert after["opt_g"]["state"][0]["step"].item() == step + 2     # Adam's counter went on
    assert after["minutes"] >= killed["minutes"]                      # and the clock the budget counts
    # the last step (step + 1 of step + 2) ran at lr × (1 - (step + 1) / (step + 2)) / 0.3: the linear decay
    assert after["opt_g"]["param_groups"][0]["lr"] == pytest.approx(1e-3 * (1 - (step + 1) / (step + 2)) / 0.3)
    assert load_codec(tmp_path / "codec.pt").bits == 32


def test_a_checkpoint_from_before_a_flag_existed_resumes_with_the_flags_default(tmp_path):
    train("--dry_run", "--out", tmp_path)
    old = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    del old["args"]["jitter"]                                         # --jitter came later
    files.save_checkpoint(old, tmp_path / "ckpt.pt")
    train("--out", tmp_path, "--resume", "--steps", 2)
    after = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert after["step"] == 2 and after["args"]["jitter"] == 0


def test_resume_refuses_a_contradicting_flag_and_a_damaged_checkpoint(tmp_path):
    files.save_checkpoint({"args": {"data": "easyvqa", "bits": 32, "batch": 4}, "step": 2, "minutes": 0.1,
                           **dict.fromkeys(("codec", "disc", "opt_g", "opt_d"), {})}, tmp_path / "ckpt.pt")
    r = subprocess.run([sys.executable, "train.py", "--out", str(tmp_path), "--resume", "--bits", "64"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "--bits 64 contradicts" in r.stderr
    (tmp_path / "ckpt.pt").write_bytes(b"PK\x03\x04 garbage")
    r = subprocess.run([sys.executable, "train.py", "--out", str(tmp_path), "--resume"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "not a readable checkpoint" in r.stderr
    assert "weights_only" not in r.stderr and "Traceback" not in r.stderr


def test_ddp_two_cpu_processes(tmp_path):
    train("--data", "easyvqa", "--bits", 32, "--batch", 4, "--steps", 3, "--eval_every", 3, "--out", tmp_path,
          module=[sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533", "train.py"])
    assert torch.load(tmp_path / "ckpt.pt", weights_only=True)["step"] == 3


@pytest.mark.parametrize("bad, word", [(("--data", "nowhere"), "nowhere"),
                                       (("--code", "grid", "--bits", 100), "multiple of 16"),
                                       (("--bits", 100), "multiple of 8"),
                                       (("--code", "map", "--bits", 1100), "twice --bits"),
                                       (("--device", "cuda" if not torch.cuda.is_available() else "nonsense"), "--device"),
                                       (("--resume",), "nothing to resume")])
def test_bad_arguments_are_one_line_and_exit_2(bad, word, tmp_path):
    r = subprocess.run([sys.executable, "train.py", *map(str, bad), "--dry_run", "--out", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and word in r.stderr, r.stderr


def test_help_describes_every_flag_from_the_comments_beside_the_defaults():
    r = subprocess.run([sys.executable, "train.py", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    for phrase in ("--bits BITS bits per image", "--w_adv W_ADV generator's hinge loss", "--resume continue OUT/ckpt.pt"):
        assert phrase in text, phrase
