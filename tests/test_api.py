"""The Python API and the zoo: models by name, whole files from Python, byte for byte the command line's."""
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import fewbits
from fewbits import zoo
from fewbits.cli import compress
from fewbits.codec import load_codec


@pytest.fixture
def folder(tmp_path):
    """Five images of different shapes and kinds: wide, tall, square, grey, with alpha."""
    rng = np.random.default_rng(0)
    (tmp_path / "in").mkdir()
    for name, shape in [("wide.png", (60, 100, 3)), ("tall.jpg", (120, 40, 3)), ("square.png", (64, 64, 3)),
                        ("grey.png", (50, 70)), ("alpha.png", (80, 80, 4))]:
        Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(tmp_path / "in" / name)
    return tmp_path


@pytest.mark.parametrize("name", ["easyvqa-64", "scenes-map-120"])
def test_the_api_round_trips_a_folder_byte_for_byte_as_the_command_line(name, folder):
    codec = fewbits.load(name)
    paths = sorted((folder / "in").iterdir())
    blobs = codec.compress(paths)
    assert all(isinstance(b, bytes) for b in blobs)
    assert compress.main([str(folder / "in"), str(folder / "bins"), "--model", name]) == 0
    assert blobs == [(folder / "bins" / (p.name + ".bin")).read_bytes() for p in paths]
    assert codec.compress([Image.open(p) for p in paths]) == blobs           # PIL images, the same files
    images = codec.decompress(blobs, size=128)
    assert compress.main([str(folder / "bins"), str(folder / "pngs"), "--model", name, "--size", "128"],
                         decompress=True) == 0
    for p, img in zip(paths, images):
        original = Image.open(p)
        assert max(img.size) == 128 and abs(img.width / img.height - original.width / original.height) < 0.05
        assert np.array_equal(np.asarray(img), np.asarray(Image.open(folder / "pngs" / (p.name + ".png"))))


def test_errors_are_exceptions_with_one_line_messages(tmp_path):
    codec = fewbits.load("easyvqa-64")
    blob = codec.compress(torch.rand(1, 3, 64, 64))[0]
    other = fewbits.load("scenes-256").compress(torch.rand(1, 3, 64, 64))[0]
    for bad, why in [(blob[:-1], "checksum"), (other, "another model"), (b"", "magic")]:
        with pytest.raises(fewbits.FormatError, match=why) as e:
            codec.decompress([bad])
        assert "\n" not in str(e.value)
    (tmp_path / "x.png").write_bytes(b"not an image")
    with pytest.raises(fewbits.FileError, match="x.png"):
        codec.compress([tmp_path / "x.png"])
    with pytest.raises(fewbits.CheckpointError, match="no such checkpoint"):
        fewbits.load("no-such-model")


def test_the_manifest_names_every_shipped_file_with_its_hash_and_fingerprint():
    assert sorted(p.name for p in zoo.FOLDER.glob("*.pt")) == sorted(m["file"] for m in zoo.MODELS.values())
    for name, m in zoo.MODELS.items():
        assert zoo.checked_path(name) == zoo.FOLDER / m["file"]            # the hash matches
        assert m["description"] and m["commands"] and m["data"] in ("easyvqa", "scenes", "clevr", "photos", "photos-full")
        assert all(c.startswith("fewbits ") for c in m["commands"])
        if m["kind"] == "codec":
            model = load_codec(zoo.FOLDER / m["file"])
            assert model.fingerprint() == m["fingerprint"] and model.bits == m["bits"] and model.trained_on == m["data"]
    assert zoo.made_by(zoo.MODELS["scenes-256"]["fingerprint"]) == ["scenes-256"]


def test_a_checkpoint_whose_hash_differs_from_the_manifest_is_refused(tmp_path, monkeypatch, capsys):
    shutil.copytree(zoo.FOLDER, tmp_path / "checkpoints")
    monkeypatch.setattr(zoo, "FOLDER", tmp_path / "checkpoints")
    path = tmp_path / "checkpoints" / "easyvqa-64.pt"
    path.write_bytes(path.read_bytes()[:-1] + bytes([path.read_bytes()[-1] ^ 1]))    # one bit
    with pytest.raises(fewbits.CheckpointError, match="sha256 mismatch"):
        fewbits.load("easyvqa-64")
    assert compress.main([str(tmp_path / "x.png"), str(tmp_path / "x.bin"), "--model", "easyvqa-64"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "easyvqa-64" in lines[0] and "sha256" in lines[0]
    path.unlink()
    with pytest.raises(fewbits.CheckpointError, match="missing"):
        fewbits.load("easyvqa-64")
