"""fewbits compress | decompress, the command line: files and folders, input conversions, and every kind of bad input."""
import random
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from fewbits import files
from fewbits.cli import compress
from fewbits.codec import CODECS, codec_checkpoint, load_codec
from fewbits.coding import container


def save_codec(path, seed, bits=256, code="global"):
    torch.manual_seed(seed)
    files.save_checkpoint(codec_checkpoint(CODECS[code](bits=bits, width=8, context=2)), path)
    return load_codec(path)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("codec") / "codec.pt"
    save_codec(path, seed=0)
    return path


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "in.jpg"
    Image.fromarray(rng.integers(0, 255, (80, 100, 3), dtype=np.uint8)).save(path)
    return path


def cli(*args, capsys=None):
    """fewbits compress ARGS, or fewbits decompress ARGS when the first is -d."""
    args = [str(a) for a in args]
    decompress = args[:1] == ["-d"]
    code = compress.main(args[decompress:], decompress=decompress)
    return code, capsys.readouterr() if capsys else None


def test_cli_file_and_folder(ckpt, photo, tmp_path, capsys):
    code, out = cli(photo, tmp_path / "a.bin", "--model", ckpt, capsys=capsys)
    size = (tmp_path / "a.bin").stat().st_size
    assert code == 0 and f"{8 * size} bits" in out.out and size <= 4 + 33                  # a wide photo: its shape is a 4th header byte
    code, _ = cli("-d", tmp_path / "a.bin", tmp_path / "a.png", "--model", ckpt, "--size", 128, capsys=capsys)
    assert code == 0 and Image.open(tmp_path / "a.png").size == (128, 103)      # 100×80 at 128 wide
    (tmp_path / "photos").mkdir()
    for i in range(3):
        Image.open(photo).rotate(90 * i).save(tmp_path / "photos" / f"p{i}.png")
    code, out = cli(tmp_path / "photos", tmp_path / "bins", "--model", ckpt, capsys=capsys)
    assert code == 0 and "\r" not in out.err and "file/s" not in out.err      # no progress bar in a log
    assert cli("-d", tmp_path / "bins", tmp_path / "pngs", "--model", ckpt, capsys=capsys)[0] == 0
    assert sorted(p.name for p in (tmp_path / "pngs").iterdir()) == ["p0.png.png", "p1.png.png", "p2.png.png"]
    code, out = cli(photo, tmp_path / "s.bin", "--model", ckpt, "--search", 5, capsys=capsys)     # searched bits
    assert code == 0 and cli("-d", tmp_path / "s.bin", tmp_path / "s.png", "--model", ckpt, capsys=capsys)[0] == 0
    assert Image.open(tmp_path / "s.png").size == (64, 51)


def test_outputs_never_collide_and_missing_folders_are_made(ckpt, photo, tmp_path, capsys):
    (tmp_path / "in").mkdir()
    Image.open(photo).save(tmp_path / "in" / "a.png")
    (tmp_path / "in" / "a.jpg").write_bytes(photo.read_bytes())
    assert cli(tmp_path / "in", tmp_path / "new" / "bins", "--model", ckpt, capsys=capsys)[0] == 0
    assert sorted(p.name for p in (tmp_path / "new" / "bins").iterdir()) == ["a.jpg.bin", "a.png.bin"]
    code, out = cli(photo, tmp_path / "deep" / "er" / "x.bin", "--model", ckpt, capsys=capsys)
    assert code == 0 and (tmp_path / "deep" / "er" / "x.bin").exists()
    assert "trained on" in out.out                                  # which codec, and what it is for
    (tmp_path / "into").mkdir()                                     # an output that is a folder: write inside
    assert cli(photo, tmp_path / "into", "--model", ckpt, capsys=capsys)[0] == 0
    assert [p.name for p in (tmp_path / "into").iterdir()] == ["in.jpg.bin"]


@pytest.mark.parametrize("case", ["folder into a file", "output under a file", "unwritable name",
                                  "--batch 0", "--batch -1", "--benchmark -5", "--size 2000", "garbage --model",
                                  "--search -1", "--search with a map codec"])
def test_mistakes_are_one_line_and_exit_2(case, ckpt, photo, tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jpg").write_bytes(photo.read_bytes())
    (tmp_path / "garbage.pt").write_bytes(b"\x80\x02 not a checkpoint")
    map_codec = tmp_path / "map.pt"
    if case == "--search with a map codec":
        save_codec(map_codec, seed=0, bits=64, code="map")
    args = {"folder into a file": (tmp_path / "in", photo),
            "output under a file": (photo, photo / "x.bin"),
            "unwritable name": (photo, tmp_path / ("x" * 300 + ".bin")),
            "--batch 0": (photo, tmp_path / "x.bin", "--batch", 0),
            "--batch -1": (tmp_path / "in", tmp_path / "out", "--batch", -1),
            "--benchmark -5": ("--benchmark", -5),
            "--size 2000": ("-d", photo, tmp_path / "x.png", "--size", 2000),
            "garbage --model": (photo, tmp_path / "x.bin", "--model", tmp_path / "garbage.pt"),
            "--search -1": (photo, tmp_path / "x.bin", "--search", -1),
            "--search with a map codec": (photo, tmp_path / "x.bin", "--search", 5, "--model", map_codec)}[case]
    if "--model" not in args:
        args = (*args, "--model", ckpt)
    before = sorted(tmp_path.rglob("*"))
    code, out = cli(*args, capsys=capsys)
    lines = out.err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (case, out.err)
    assert "Traceback" not in out.err and "weights_only" not in out.err
    assert sorted(tmp_path.rglob("*")) == before, case                # nothing written, nothing half-written


def test_input_conversions(tmp_path):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 255, (60, 90, 3), dtype=np.uint8)
    cases = {"gray.png": Image.fromarray(rgb[..., 0]), "rgba.png": Image.fromarray(np.dstack([rgb, rgb[..., :1]])),
             "pal.gif": Image.fromarray(rgb).convert("P"), "deep.png": Image.fromarray(rgb[..., 0].astype(np.uint16) * 257)}
    for name, img in cases.items():
        img.save(tmp_path / name)
        x, shape = files.load_square(tmp_path / name)
        assert x.shape == (3, 64, 64) and 0 <= x.min() and x.max() <= 1 and shape == (False, 85), name
    # EXIF orientation 6: the stored pixels are rotated; the loaded image must be upright (taller than wide)
    wide = np.zeros((40, 120, 3), np.uint8)
    wide[:, :60] = 255                                            # left half white
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(wide).save(tmp_path / "rot.jpg", exif=exif, quality=95)
    assert files.read_image(tmp_path / "rot.jpg").size == (40, 120)
    x, shape = files.load_square(tmp_path / "rot.jpg")
    top, bottom = x[:, :20].mean(), x[:, 44:].mean()
    assert top > 0.9 and bottom < 0.1                              # rotated 90° clockwise: white on top
    assert shape == (True, 42)                                     # taller than wide, 40/120 of it


def test_any_shape_decodes_to_its_shape(tmp_path):
    """A 64×64 codec keeps a wide or tall photo's shape: one more header byte, and the decode at
    --size is that many pixels along its long side. A square image costs no shape byte."""
    rng = np.random.default_rng(2)
    for (w, h), header, out in [((90, 60), 4, (128, 86)), ((30, 120), 4, (32, 128)), ((50, 50), 3, (128, 128))]:
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(tmp_path / "a.png")
        assert cli(tmp_path / "a.png", tmp_path / "a.bin", "--force", "--model", "photos-256")[0] == 0
        blob = (tmp_path / "a.bin").read_bytes()
        assert container.header_bytes(blob) == header
        assert cli("-d", tmp_path / "a.bin", tmp_path / "a.out.png", "--size", "128", "--force", "--model", "photos-256")[0] == 0
        assert Image.open(tmp_path / "a.out.png").size == out, (w, h)


def test_another_codecs_file_names_its_codec(tmp_path, capsys):
    """A file decoded with the wrong codec: one line that names the shipped codec that made it."""
    Image.fromarray(np.full((64, 64, 3), 200, np.uint8)).save(tmp_path / "a.png")
    assert cli(tmp_path / "a.png", tmp_path / "a.bin", "--model", "scenes-256")[0] == 0
    capsys.readouterr()
    assert cli("-d", tmp_path / "a.bin", tmp_path / "a.out.png")[0] == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "made by scenes-256: add --model scenes-256" in err[0]
    assert not (tmp_path / "a.out.png").exists()


def huge_png(path, side=40_000):
    """A valid PNG header claiming side × side pixels: Pillow's decompression-bomb check must refuse it."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))


def test_bad_images_are_one_line_exit_2_and_leave_nothing(ckpt, photo, tmp_path, capsys):
    jpeg = photo.read_bytes()
    bad = {"text.jpg": b"hello, not an image", "empty.png": b"", "cut.jpg": jpeg[: len(jpeg) // 2]}
    for name, blob in bad.items():
        (tmp_path / name).write_bytes(blob)
    huge_png(tmp_path / "bomb.png")
    for name in [*bad, "bomb.png"]:
        out_path = tmp_path / (name + ".bin")
        code, out = cli(tmp_path / name, out_path, "--model", ckpt, capsys=capsys)
        lines = out.err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and name in lines[0], (name, out.err)
        assert not out_path.exists() and not list(tmp_path.glob(".*.tmp"))
    code, out = cli(photo, photo, "--model", ckpt, capsys=capsys)            # never overwrite the input
    assert code == 2 and photo.read_bytes() == jpeg


def test_bad_bins_are_refused(ckpt, photo, tmp_path, capsys):
    assert cli(photo, tmp_path / "ok.bin", "--model", ckpt, capsys=capsys)[0] == 0
    blob = (tmp_path / "ok.bin").read_bytes()
    other = save_codec(tmp_path / "other.pt", seed=1)
    assert other.fingerprint() != load_codec(ckpt).fingerprint()
    cases = {"magic.bin": b"\x00" + blob[1:], "other.bin": blob[:1] + bytes([other.fingerprint()]) + blob[2:],
             "cut.bin": blob[:-3], "random.bin": bytes(random.Random(0).randrange(256) for _ in range(40))}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        code, out = cli("-d", tmp_path / name, tmp_path / (name + ".png"), "--model", ckpt, capsys=capsys)
        assert code == 2 and len(out.err.strip().splitlines()) == 1 and name in out.err, (name, out.err)
        assert not (tmp_path / (name + ".png")).exists()


def test_real_command_line_from_any_folder_with_a_zoo_name(photo, tmp_path):
    """The console script and python -m, run from a folder that is not the repository's."""
    r = subprocess.run(["fewbits", "compress", str(photo), str(tmp_path / "x.bin"), "--model", "easyvqa-64"],
                       cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0 and "bits" in r.stdout, r.stderr
    r = subprocess.run([sys.executable, "-m", "fewbits", "decompress", str(photo), str(tmp_path / "x.png"),
                        "--model", "easyvqa-64"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = subprocess.run([sys.executable, "-m", "fewbits", "nonsense"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "compress" in r.stderr


def test_an_existing_output_is_refused_unless_forced(ckpt, photo, tmp_path, capsys):
    """As gzip and zstd do: one line and nothing written, for a file and for a folder's outputs alike;
    --force overwrites."""
    (tmp_path / "a.bin").write_bytes(b"precious")
    code, out = cli(photo, tmp_path / "a.bin", "--model", ckpt, capsys=capsys)
    assert code == 2 and len(out.err.strip().splitlines()) == 1 and "--force" in out.err
    assert (tmp_path / "a.bin").read_bytes() == b"precious"
    (tmp_path / "in").mkdir()
    for name in ("p.png", "q.png"):
        Image.open(photo).save(tmp_path / "in" / name)
    (tmp_path / "bins").mkdir()
    (tmp_path / "bins" / "q.png.bin").write_bytes(b"precious")
    code, out = cli(tmp_path / "in", tmp_path / "bins", "--model", ckpt, capsys=capsys)
    assert code == 2 and "q.png.bin" in out.err and sorted(p.name for p in (tmp_path / "bins").iterdir()) == ["q.png.bin"]
    assert cli(tmp_path / "in", tmp_path / "bins", "--model", ckpt, "--force", capsys=capsys)[0] == 0
    assert (tmp_path / "bins" / "q.png.bin").read_bytes() != b"precious"
    assert cli(photo, tmp_path / "a.bin", "--model", ckpt, "--force", capsys=capsys)[0] == 0
