"""train.py: a dry run on each data source, in-process; init, resume, and DistributedDataParallel with
2 CPU processes; bad arguments through the command line."""
import json
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from fewbits import files
from fewbits.cli import train as train_cli
from fewbits.codec import load_codec
from fewbits.train import TrainConfig, TrainError, train

FEWBITS_TRAIN = [sys.executable, "-m", "fewbits", "train"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)).save(folder / f"{i}.jpg")
    return folder


@pytest.mark.parametrize("source, code", [("easyvqa", "global"), ("scenes", "global"), ("scenes", "grid"),
                                          ("scenes", "map"), ("folder", "global")])
def test_dry_run_writes_a_codec_that_compress_can_load(source, code, photos, tmp_path, capsys):
    data = str(photos) if source == "folder" else source
    bits = 32 if code == "map" else 64                                # map: 32 on average, capacity 64
    final = train(TrainConfig(data=data, bits=bits, code=code, dry_run=True, out=str(tmp_path)))
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    most = 64 + 16 if code == "map" else 64                           # map: the capacity, and its map
    assert metrics[-1]["step"] == 1 and metrics[-1]["bits"] <= 3 * 8 + most + 16
    assert final["bits"] <= 3 * 8 + most + 16 and "validation split" in capsys.readouterr().out
    assert list((tmp_path / "samples").glob("*.png"))
    model = load_codec(tmp_path / "codec.pt")
    assert model.code == code and model.bits == bits
    strings = model.compress(torch.rand(2, 3, 64, 64))["strings"]
    assert model.decompress(strings)["x_hat"].shape == (2, 3, 64, 64)


@pytest.mark.parametrize("code", ["map", "objects-cast"])
def test_a_dry_run_on_clevr_trains_a_128_pixel_codec(code, tmp_path, monkeypatch):
    """CLEVR's images are 128×128 (data.image_size): the codec, the discriminator and a loss model
    of that size train on them; the object code's encoder only on the scene graphs, as its decoder,
    the ray caster, has nothing to learn from decodes. A few scenes, generated into a cache of the
    test's own."""
    from fewbits.data import datasets
    from fewbits.vqa import VQA, vqa_checkpoint
    monkeypatch.setattr(datasets, "CACHE", tmp_path / "cache")
    monkeypatch.setitem(datasets.SPLIT_SIZES, "clevr", {"train": 8, "val": 8, "test": 8})
    clevr = datasets.load("clevr", "train")
    files.save_checkpoint(vqa_checkpoint(VQA(len(clevr.vocab), len(clevr.answer_names), size=128), clevr),
                          tmp_path / "vqa.pt")
    train(TrainConfig(data="clevr", bits=64, code=code, vqa=str(tmp_path / "vqa.pt"), dry_run=True, out=str(tmp_path / "run")))
    logged = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    terms = {"objects", "rate"} if code == "objects-cast" else {"mse", "kl", "adv", "rate"}
    assert terms <= set(logged) and ("mse" in logged) != (code == "objects-cast")
    model = load_codec(tmp_path / "run" / "codec.pt")
    assert model.code == code and model.size == 128 and model.decompress(model.compress(clevr.images(torch.arange(2)))["strings"])["x_hat"].shape == (2, 3, 128, 128)


def test_init_starts_a_map_codec_from_a_grid_codecs_weights(tmp_path):
    """--init copies every tensor that fits; the map code's encoder has one more output channel, whose
    weights keep their initial values. One training step moves a weight by about lr = 1e-3 (Adam)."""
    grid_run = TrainConfig(data="scenes", bits=64, code="grid", dry_run=True, out=str(tmp_path / "grid"))
    train(grid_run)
    train(replace(grid_run, bits=32, code="map", init=str(tmp_path / "grid" / "codec.pt"), out=str(tmp_path / "map")))
    grid, fine = load_codec(tmp_path / "grid" / "codec.pt"), load_codec(tmp_path / "map" / "codec.pt")
    assert fine.args["bits"] == 32 and fine.capacity == 64 and fine.code == "map"
    for key, t in grid.state_dict().items():
        if not key.startswith("bit_model"):
            assert (fine.state_dict()[key][:len(t)] - t).abs().max() < 2e-3, key
    with pytest.raises(TrainError, match="nothing.pt"):
        train(TrainConfig(init=str(tmp_path / "nothing.pt"), dry_run=True, out=str(tmp_path / "x")))


def test_steps_0_after_init_only_counts_the_coders_table(photos, tmp_path, capsys):
    """The command that gives an existing codec its counted table: every weight stays, only the bit
    model changes, and the files it writes decode."""
    train(TrainConfig(data=str(photos), bits=64, code="grid", dry_run=True, out=str(tmp_path / "a")))
    train(TrainConfig(data=str(photos), bits=64, code="grid", init=str(tmp_path / "a" / "codec.pt"), steps=0,
                      out=str(tmp_path / "b")))
    out = capsys.readouterr().out
    assert "done: 0 steps" in out and "20000 training images" in out
    before, after = load_codec(tmp_path / "a" / "codec.pt"), load_codec(tmp_path / "b" / "codec.pt")
    for key, t in before.state_dict().items():
        assert key.startswith("bit_model") or torch.equal(t, after.state_dict()[key]), key
    x = torch.rand(4, 3, 64, 64)
    assert torch.equal(after.decompress(after.compress(x)["strings"])["x_hat"],
                       before.decompress(before.compress(x)["strings"])["x_hat"])


def test_killed_run_resumes_from_its_checkpoint_with_its_own_flags(tmp_path):
    """SIGKILL after the first checkpoint; then --resume with nothing but --out (and --dry_run, which
    only shortens the end's table and validation) continues from that step with the same optimiser
    state and the flags the checkpoint stored."""
    run = subprocess.Popen([*FEWBITS_TRAIN, "--data", "easyvqa", "--bits", "32", "--batch", "4", "--eval_every", "2",
                            "--steps", "1000", "--minutes", "30", "--out", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (tmp_path / "ckpt.pt").exists() and run.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert run.returncode == -signal.SIGKILL
    killed = torch.load(tmp_path / "ckpt.pt", weights_only=True)      # written atomically: whole, never half
    step = killed["step"]
    assert step >= 2 and killed["config"]["bits"] == 32
    train(TrainConfig(out=str(tmp_path), resume=True, steps=step + 2, dry_run=True))   # dry_run: a short finish
    after = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert after["step"] == step + 2 and after["config"]["batch"] == 4 and after["model_args"]["bits"] == 32
    assert after["config"]["minutes"] == 30 and after["config"]["eval_every"] == 2   # left out: the run's, not the defaults
    assert after["opt_g"]["state"][0]["step"].item() == step + 2     # Adam's counter went on
    assert after["minutes"] >= killed["minutes"]                      # and the clock the budget counts
    # the last step (step + 1 of step + 2) ran at lr × (1 - (step + 1) / (step + 2)) / 0.3: the linear decay
    assert after["opt_g"]["param_groups"][0]["lr"] == pytest.approx(1e-3 * (1 - (step + 1) / (step + 2)) / 0.3)
    assert load_codec(tmp_path / "codec.pt").bits == 32


def test_a_checkpoint_from_before_a_field_existed_resumes_with_its_default(tmp_path):
    train(TrainConfig(dry_run=True, out=str(tmp_path)))
    old = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    del old["config"]["deep"]                                         # --deep came later
    files.save_checkpoint(old, tmp_path / "ckpt.pt")
    train(TrainConfig(out=str(tmp_path), resume=True, steps=2, dry_run=True))   # dry_run: a short finish
    after = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert after["step"] == 2 and after["config"]["deep"] == 0


def test_ddp_two_cpu_processes(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533", "-m", "fewbits",
           "train", "--data", "easyvqa", "--bits", "32", "--batch", "4", "--steps", "3", "--eval_every", "3",
           "--out", str(tmp_path)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert torch.load(tmp_path / "ckpt.pt", weights_only=True)["step"] == 3


def contradiction(tmp_path):
    files.save_checkpoint({"config": {"data": "easyvqa", "bits": 32, "batch": 4}, "step": 2, "minutes": 0.1,
                           **dict.fromkeys(("codec", "disc", "opt_g", "opt_d"), {})}, tmp_path / "ckpt.pt")
    return ("--resume", "--bits", 64)


def damaged(tmp_path):
    (tmp_path / "ckpt.pt").write_bytes(b"PK\x03\x04 garbage")
    return ("--resume",)


@pytest.mark.parametrize("bad, word", [(("--data", "nowhere"), "nowhere"),
                                       (("--code", "grid", "--bits", 100), "multiple of 16"),
                                       (("--bits", 100), "multiple of 8"),
                                       (("--code", "foo"), "global, grid, map"),
                                       (("--code", "map", "--bits", 1100), "twice"),
                                       (("--disc", "patch"), "whole, both"),
                                       (("--device", "cuda" if not torch.cuda.is_available() else "nonsense"), "--device"),
                                       (("--resume",), "nothing to resume"),
                                       (contradiction, "--bits 64 contradicts"),
                                       (damaged, "not a readable checkpoint")])
def test_bad_arguments_are_one_line_and_exit_2(bad, word, tmp_path, capsys):
    args = bad(tmp_path) if callable(bad) else bad
    assert train_cli.main([*map(str, args), "--dry_run", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and word in lines[0] and "Traceback" not in err and "weights_only" not in err, err


def test_help_describes_every_flag_from_the_comments_beside_the_defaults(capsys):
    with pytest.raises(SystemExit):
        train_cli.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for phrase in ("--bits BITS bits per image", "--w_adv W_ADV generator's hinge loss", "--resume continue OUT/ckpt.pt"):
        assert phrase in text, phrase


def test_flips_mirror_about_half_the_images_left_right_and_nothing_else():
    from fewbits.data import mirror
    torch.manual_seed(0)
    x = torch.rand(200, 3, 8, 8)
    y = mirror(x)
    same, mirrored = (y == x).flatten(1).all(1), (y == x.flip(3)).flatten(1).all(1)
    assert (same ^ mirrored).all() and 70 < mirrored.sum() < 130
