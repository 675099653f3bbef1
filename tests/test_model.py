"""model.py: the Codec's compress / decompress contract, file sizes against Σ -log2 p, and its checkpoints."""
import hashlib
import math
from pathlib import Path

import pytest
import torch

import bitstream
import data
import files
import metrics
from model import Codec, codec_checkpoint, load_codec

CKPT = Path(__file__).resolve().parent.parent / "checkpoints"


def random_codec(seed, bits=256, code="global"):
    torch.manual_seed(seed)
    return Codec(bits=bits, width=8, context=2, code=code).eval()


def test_round_trip_is_exact_and_decodes_at_any_size():
    """decompress(compress(x)) decodes exactly the bits of sign(g_a(x)), at 32, 64 or 128 pixels."""
    model = random_codec(0)
    x = torch.rand(6, 3, 64, 64)
    strings = model.compress(x)["strings"]
    with torch.no_grad():
        bits = (model.g_a(x) >= 0).int().tolist()                    # sign, 0 -> +1, written out by hand
    freqs = model.bit_model.freqs.tolist()
    for s, row in zip(strings, bits):
        assert bitstream.decode(s, model.bits, freqs) == row        # the one-bit-at-a-time reference coder
        assert len(s) <= (256 + 2 + 7) // 8                         # untrained table: uniform
    for size in (32, 64, 128):
        x_hat = model.decompress(strings, size)["x_hat"]
        assert x_hat.shape == (6, 3, size, size) and 0 <= x_hat.min() and x_hat.max() <= 1
    with torch.no_grad():
        ref = model.g_s(torch.tensor(bits).float() * 2 - 1).clamp(0, 1)
    assert torch.allclose(model.decompress(strings)["x_hat"], ref)


def test_grid_code_round_trip_and_each_cell_sees_only_its_neighbourhood():
    model = random_codec(1, bits=128, code="grid")
    x = torch.rand(3, 3, 64, 64)
    assert model.decompress(model.compress(x)["strings"])["x_hat"].shape == (3, 3, 64, 64)
    # the code is (bits/16 channels, 4, 4 cells), flattened channel-major; the encoder's receptive
    # field is 31 pixels, so new pixels in the top-left 8×8 corner reach the cells around (0, 0) only
    x2 = x.clone()
    x2[:, :, :8, :8] = torch.rand(3, 3, 8, 8)
    with torch.no_grad():
        moved = (model.g_a(x2) - model.g_a(x)).abs().view(3, 8, 4, 4).amax(dim=(0, 1))   # (4, 4) per cell
    assert moved[0, 0] > 0
    assert moved[2:, :].max() == 0 and moved[:, 2:].max() == 0, moved


@pytest.mark.parametrize("bits, code", [(100, "global"), (136, "grid"), (8, "global"), (2048, "global")])
def test_bits_the_file_header_cannot_hold_are_refused_up_front(bits, code):
    with pytest.raises(ValueError, match="bits must be"):
        Codec(bits=bits, code=code)


def test_file_size_is_header_plus_payload_and_close_to_the_ideal_code_length():
    """The shipped easyvqa-256 on real images. Reference: Σ -log2 p of each bit under the same integer
    table, computed here bit by bit. On average an arithmetic coder spends at most 2 bits more, plus
    the padding to a whole byte (3.5 on average); one file can come out a few bits under, because
    the zeros the decoder reads past the end are never written. The float bit model's rate (the
    training term) is within 1% of the reference."""
    codec = load_codec(CKPT / "easyvqa-256.pt")
    x = data.load("easyvqa", "test").images(torch.arange(50))
    strings = codec.compress(x)["strings"]
    blobs = metrics.codec_files(codec)[0](x)
    freqs = codec.bit_model.freqs.tolist()
    with torch.no_grad():
        b = torch.where(codec.g_a(x) >= 0, 1.0, -1.0)
        rate = codec.bit_model.rate(b)
    overhead = []
    for blob, s, row, r in zip(blobs, strings, (b > 0).int().tolist(), rate.tolist()):
        assert len(blob) == bitstream.HEADER_BYTES + len(s) and blob.endswith(s)
        ideal, ctx = 0.0, 0
        for i, bit in enumerate(row):
            p1 = freqs[i][ctx] / (1 << bitstream.PRECISION)
            ideal -= math.log2(p1 if bit else 1 - p1)
            ctx = ((ctx << 1) | bit) & 3
        overhead.append(8 * len(s) - ideal)
        assert abs(r - ideal) <= 0.01 * ideal, (r, ideal)
    assert 0 <= sum(overhead) / len(overhead) <= 2 + 3.5 + 1 and max(map(abs, overhead)) <= 16, overhead
    assert sum(map(len, strings)) < 50 * 256 // 8                    # the bit model does save bits


def test_checkpoint_round_trip_and_bad_checkpoints(tmp_path):
    model = random_codec(2, bits=64)
    files.save_checkpoint(codec_checkpoint(model, data="easyvqa"), tmp_path / "c.pt")
    again = load_codec(tmp_path / "c.pt")
    assert again.args == model.args and again.fingerprint() == model.fingerprint()
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint at all")
    torch.save({"model": {}}, tmp_path / "other.pt")
    torch.save({"model_args": {"bits": 64, "width": 16}, "codec": model.state_dict()}, tmp_path / "shapes.pt")
    for name, why in [("missing.pt", "no such checkpoint"), ("garbage.pt", "not a readable checkpoint"),
                      ("other.pt", "no model_args, codec"), ("shapes.pt", "can rebuild")]:
        with pytest.raises(files.CheckpointError, match=why) as e:
            load_codec(tmp_path / name)
        assert name in str(e.value) and "weights_only" not in str(e.value)


# SHA-256 of the .bin files of the first 100 test images, as written by the code of commit c6c95f7,
# before model.py existed: a change that is meant to move code around must not move a single byte.
FILES_DIGEST = {
    "easyvqa-256": "96595f3ed2d217bdb35eda26fede6c38accb63cd95f821078832a39da09bf708",
    "easyvqa-64": "e273665f41af7d92a0b9cb598e7e9268f121e0cbe785689b4ff7e697bd04a05b",
    "easyvqa-256-no-adv": "3b183092c5247bdd137fe060cae6361dbc4eaf425affdd8f288010192759f21d",
    "easyvqa-256-no-vqa": "7e2d3e162e82a1be838912184355bbee80d172850b1a014cccc202e3fd18ae76",
    "scenes-256": "be02ea3e0fbb36218bb1f72a71017979d2a3c9f07f6fdea5755d6d09242a856c",
    "scenes-128": "e38658f86f3d119ea66127c15f3191b7ba73e5264244e4ccea8bbf4b9846d970",
}


@pytest.mark.parametrize("name", sorted(FILES_DIGEST))
def test_shipped_codecs_write_the_same_files_as_before(name):
    codec = load_codec(CKPT / f"{name}.pt")
    x = data.load(name.split("-")[0], "test").images(torch.arange(100))
    blobs = metrics.codec_files(codec)[0](x)
    assert hashlib.sha256(b"".join(blobs)).hexdigest() == FILES_DIGEST[name]
