"""codec/: the Codec's compress / decompress contract, file sizes against Σ -log2 p, and its checkpoints."""
import hashlib
import math

import numpy as np
import pytest
import torch

import fewbits
from fewbits import data, files, zoo
from fewbits.codec import CODECS, GlobalCodec, GridCodec, MapCodec, codec_checkpoint, load_codec, search_bits
from fewbits.codec.search import PRICE as SEARCH_PRICE
from fewbits.coding import arithmetic as bitstream
from fewbits.coding import container
from fewbits.nn.quantize import binarize


def random_codec(seed, bits=256, code="global", deep=0):
    """A codec of random weights; for the map code, `bits` is the capacity (the mean budget is half)."""
    torch.manual_seed(seed)
    return CODECS[code](bits=bits // 2 if code == "map" else bits, width=8, context=2, deep=deep).eval()


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


@pytest.mark.parametrize("deep", [0, 32])                     # 32: channels 8, 16, 16, 32 instead of 8, 16, 32, 32
def test_grid_code_round_trip_and_each_cell_sees_only_its_neighbourhood(deep):
    model = random_codec(1, bits=128, code="grid", deep=deep)
    assert model.g_a.fc.in_channels == model.g_s.fc.out_channels == (deep or 32)
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


@pytest.mark.parametrize("code", ["global", "map"])
def test_a_128_pixel_codec_has_one_more_stage_each_way_and_files_round_trip(code, tmp_path):
    """CLEVR's images are 128×128: the encoder takes them in one more stride, the decoder draws them
    with one more up-block, and the training pass decodes at 128 and 64."""
    torch.manual_seed(3)
    model = CODECS[code](bits=128, width=8, size=128)
    x = torch.rand(2, 3, 128, 128)
    out = model(x)
    assert out["x_hat"].shape == (2, 3, 128, 128) and out["x_hat_half"].shape == (2, 3, 64, 64)
    assert len(model.g_a.convs) == len(random_codec(0, code=code).g_a.convs) + (2 if code == "map" else 3)
    files.save_checkpoint(codec_checkpoint(model.eval()), tmp_path / "c.pt")
    codec = fewbits.load(tmp_path / "c.pt")
    assert codec.model.size == 128 and codec.model.args["size"] == 128
    x_hat = codec.decode([codec.parse(b)[0] for b in codec.compress(x)])
    assert torch.equal(x_hat, model.decompress(model.compress(x)["strings"])["x_hat"])
    assert x_hat.shape == (2, 3, 128, 128) and codec.decode([codec.parse(codec.compress(x)[0])[0]], 32).shape[-1] == 32
    assert "size" not in random_codec(0, code=code).args       # 64×64 checkpoints stay as they were
    with pytest.raises(ValueError, match="64, 128, 256"):
        GridCodec(size=96)


def test_search_finds_bits_that_cost_less_than_the_encoders_and_files_carry_them():
    """Codec.search against its cost computed here, by hand: MSE of the decode + price × Σ -log2 p."""
    model = random_codec(2, bits=128, code="grid")
    x = torch.rand(4, 3, 64, 64) * 0.5 + torch.linspace(0, 0.5, 64)      # a gradient: something to find
    with torch.no_grad():
        own = (model.g_a(x) >= 0).to(torch.uint8)
        model.bit_model.fit((torch.rand(256, 128) < 0.3).to(torch.uint8))   # a table where a 1 costs more
    freqs, one, k = model.bit_model.freqs.tolist(), 1 << bitstream.PRECISION, model.bit_model.context

    def cost(bits, price):                                              # (B,) per image
        lengths = []
        for row in bits.tolist():
            total = 0.0
            for i, bit in enumerate(row):                               # context: bit i-j at place j-1
                p1 = freqs[i][sum(row[i - j] << (j - 1) for j in range(1, k + 1) if i >= j)] / one
                total -= math.log2(p1 if bit else 1 - p1)
            lengths.append(total)
        with torch.no_grad():
            mse = (model.g_s(2 * bits.float() - 1) - x).pow(2).mean((1, 2, 3))
        return mse + price * torch.tensor(lengths), torch.tensor(lengths)

    assert torch.equal(search_bits(model, x, 0), own)                         # no steps: the encoder's bits
    found = search_bits(model, x, 30)
    files_bits = [bitstream.decode(s, model.bits, freqs) for s in model.compress(x, search=30)["strings"]]
    assert files_bits == found.tolist()                                 # compress(search=) sends them
    (before, _), (after, _) = cost(own, SEARCH_PRICE), cost(found, SEARCH_PRICE)
    assert (after <= before).all() and after.mean() < 0.95 * before.mean(), (before, after)
    dear = 1e-4                                                          # a price that makes bits matter
    (before, own_bits), (after, dear_bits) = cost(own, dear), cost(search_bits(model, x, 30, price=dear), dear)
    assert (after <= before).all() and dear_bits.mean() < own_bits.mean(), (own_bits, dear_bits)
    with pytest.raises(ValueError, match="map code"):
        search_bits(random_codec(0, bits=128, code="map"), x, 5)


@pytest.mark.parametrize("code", ["global", "map"])
def test_the_rate_reaches_the_encoder(code):
    """The training rate is the expected code length (quantize.py), so its gradient reaches g_a; the
    rate of sampled bits, the term before it, gives g_a exactly nothing."""
    model = random_codec(6, bits=128, code=code).train()
    with torch.no_grad():
        model.bit_model.logits.normal_()
    x = torch.rand(4, 3, 64, 64)
    model(x)["rate"].sum().backward()
    assert model.g_a.fc.weight.grad.abs().sum() > 0
    model.zero_grad()
    y = model.g_a(x)[:, :128]
    model.bit_model.rate(binarize(y, stochastic=True)).sum().backward()
    assert model.g_a.fc.weight.grad is None or model.g_a.fc.weight.grad.abs().sum() == 0


def test_map_code_sends_what_the_importance_map_keeps_and_nothing_else():
    """The map code (codec/variants.py): keep bits, then the kept groups of each cell's bits. Reference: the
    mask built here from round(L p), the one-bit-at-a-time decoder with the gates, and g_s on the
    signs with every bit not sent set to 0."""
    model = random_codec(3, bits=128, code="map")                    # 8 bits per cell: 2 groups of 4
    x = torch.rand(4, 3, 64, 64)
    with torch.no_grad():
        v = model.g_a(x)                                             # (4, 128 + 16)
        y, p = v[:, :128], (1 + v[:, 128:]) / 2
    levels = (2 * p).round()                                         # groups sent per cell, (4, 16)
    channel_group = torch.arange(8).repeat_interleave(16).view(8, 16) // 4     # (channel, cell) -> group
    sent = (channel_group[None] < levels[:, None, :]).flatten(1)     # (4, 128), channel-major
    strings = model.compress(x)["strings"]
    freqs = model.bit_model.freqs.tolist()
    for s, lv, yy, m in zip(strings, levels, y, sent):
        keep = [int(g < lv[cell]) for cell in range(16) for g in range(2)]
        code = [int(v >= 0) * int(k) for v, k in zip(yy.tolist(), m.tolist())]
        assert bitstream.decode(s, 32 + 128, freqs, model.gates) == keep + code
    with torch.no_grad():
        ref = model.g_s(torch.where(y >= 0, 1.0, -1.0) * sent).clamp(0, 1)
    assert torch.allclose(model.decompress(strings)["x_hat"], ref)
    # an importance of ~0 everywhere sends the 16 keep bits alone; of ~1, every bit
    with torch.no_grad():
        for bias, most in ((-20.0, 16), (20.0, 16 * 2 + 128)):
            model.g_a.fc.bias[-1] = bias
            lengths = [len(s) for s in model.compress(x)["strings"]]
            assert all(8 * n <= most + 2 + 7 for n in lengths), (bias, lengths)


def test_map_code_rate_is_the_expected_length_of_what_is_sent():
    """forward()'s rate in eval mode (no sampling) against the bit model's rate() of the bits that
    compress() sends, for an encoder whose y is ±1, so that the expectation is a sure thing."""
    model = random_codec(4, bits=128, code="map")
    torch.manual_seed(5)
    v = torch.cat([torch.randint(0, 2, (3, 128)) * 2.0 - 1, torch.rand(3, 16) * 2 - 1], 1)   # y, importances
    model.g_a.forward = lambda x: v
    with torch.no_grad():
        model.bit_model.logits.normal_()
    x = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        rate = model(x)["rate"]
        y, keep = model.split(x, stochastic=False)
        mask = model.mask(keep)
        b = torch.cat([2 * keep.flatten(1) - 1, torch.where(y >= 0, 1.0, -1.0) * mask], 1)
        first = torch.ones_like(keep[..., :1])
        active = torch.cat([torch.cat([first, keep[..., :-1]], 2).flatten(1), mask], 1)
        assert torch.allclose(rate, model.bit_model.rate(b, active), rtol=1e-3)


def test_fit_table_takes_the_context_that_pays_and_files_still_decode(tmp_path):
    """Bits that repeat every 3 places cost a bit each without context and almost nothing with 3 bits
    of it: fit_table must take at least that much. On a real codec (the map code, with gated bits) the
    counted table codes files that decode to the same bits, and survives a checkpoint."""
    torch.manual_seed(0)
    codec = GlobalCodec(bits=64)
    seeds = (torch.rand(2000, 3) < 0.5).to(torch.uint8)
    repeated = seeds.repeat(1, 22)[:, :64]
    codec.code_bits = lambda x: (repeated[x], torch.ones_like(repeated[x], dtype=torch.bool))
    costs = codec.fit_table(torch.arange(2000).split(500))
    assert codec.args["context"] >= 4 and costs[codec.args["context"]] == min(costs.values())
    assert codec.bit_model.rate(2.0 * repeated[:100] - 1).mean() < 3.5        # the 3 free bits, and change

    codec = MapCodec(bits=64).eval()
    x = torch.rand(300, 3, 64, 64)
    codec.fit_table(x.split(100))
    bits, active = codec.code_bits(x[:20])
    assert not active.all()                                     # some bits are gated off, and not counted
    decoded = bitstream.decode_batch(codec.compress(x[:20])["strings"], codec.positions,
                                     codec.bit_model.freqs.numpy(), codec.gates)
    assert np.array_equal(decoded, bits.numpy())
    torch.save(codec_checkpoint(codec), tmp_path / "c.pt")
    again = load_codec(tmp_path / "c.pt")
    assert again.args == codec.args and torch.equal(again.bit_model.freqs, codec.bit_model.freqs)


@pytest.mark.parametrize("bits, code", [(100, "global"), (136, "grid"), (8, "global"), (4096, "global"), (1100, "map"),
                                        (4, "map")])
def test_bits_the_file_header_cannot_hold_are_refused_up_front(bits, code):
    with pytest.raises(ValueError, match="bits must be"):
        CODECS[code](bits=bits)


def test_bits_means_the_budget_for_every_variant():
    """Codec(bits=…) is what --bits asks for: the code's length for the global and grid codes, the mean
    for the map code, whose capacity is twice that in whole groups of 64."""
    assert GlobalCodec(bits=64).capacity == GridCodec(bits=64).capacity == 64
    assert MapCodec(bits=120).capacity == 256 and MapCodec(bits=120).bits == 120


def test_deep_channels_must_fill_groupnorm_groups():
    with pytest.raises(ValueError, match="deep must be"):
        GlobalCodec(bits=256, deep=24)                                 # deep / 2 = 12: not groups of 8


def test_file_size_is_header_plus_payload_and_close_to_the_ideal_code_length():
    """The shipped easyvqa-256 on real images. Reference: Σ -log2 p of each bit under the same integer
    table, computed here bit by bit. This coder spends at most 2 bits more per file (finish()'s two
    bits pin an interval at least a quarter as wide as the message's), plus the padding to a whole
    byte. The float bit model's rate (the training term) is within 1% of the reference."""
    codec = fewbits.load("easyvqa-256")
    x = data.load("easyvqa", "test").images(torch.arange(50))
    strings = codec.model.compress(x)["strings"]
    blobs = codec.compress(x)
    codec = codec.model
    freqs, mask = codec.bit_model.freqs.tolist(), (1 << codec.bit_model.context) - 1   # the context: k bits before each
    with torch.no_grad():
        b = torch.where(codec.g_a(x) >= 0, 1.0, -1.0)
        rate = codec.bit_model.rate(b)
    overhead = []
    for blob, s, row, r in zip(blobs, strings, (b > 0).int().tolist(), rate.tolist()):
        assert len(blob) == container.HEADER_BYTES + len(s) and blob.endswith(s)
        ideal, ctx = 0.0, 0
        for i, bit in enumerate(row):
            p1 = freqs[i][ctx] / (1 << bitstream.PRECISION)
            ideal -= math.log2(p1 if bit else 1 - p1)
            ctx = ((ctx << 1) | bit) & mask                    # the latest bit lowest
        overhead.append(8 * len(s) - ideal)
        assert abs(r - ideal) <= 0.01 * ideal, (r, ideal)
    assert all(-0.01 <= d <= 2 + 7 for d in overhead), overhead
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


# SHA-256 of the bits (uint8 0/1, 100 images × bits) that each shipped codec codes for the first 100
# test images (photos-1472: its test set's 70 squares), as the code that shipped it decoded them from
# its files: the older ones at commit c6c95f7, before container version 2; easyvqa-256 and -64 as
# retrained with the default recipe (18,000 steps), -128 (at 120 bits) and the two ablations too;
# scenes-map-120 and scenes-256 as fine-tuned (EXPERIMENTS.md). A change that moves code
# around must not move a single coded bit.
BITS_DIGEST = {
    "easyvqa-256": "7b838965c4f0927bae61e30688346530042d78284cba6e6c1e8ff67631e52424",
    "easyvqa-64": "1c8a5075721d966ff30c3c2c38f2f9cfd0678ebb46d6761fa0b41f0b0dbd3094",
    "easyvqa-128": "8feb4b0f776e0f51349eaaf68f0440aa4d5c88e7846f71184dd0df5aec236343",
    "easyvqa-256-no-adv": "eed207d6d4b48c093d84973cac95a7d6352243f395647ed9fa80d84554b97de2",
    "easyvqa-256-no-vqa": "057e34a0ad312616d17525ca6d2784a064e4ca14f48222e5534659c60922ff68",
    "scenes-256": "f971459687920b5a61cea5df519a514acba09abd5b774cb9bd34aa914b989a8d",
    "scenes-128": "7389916448fa69012fd85101f06e94045bbc32e3fdf0c6e762c8e3c0878ead17",
    "scenes-map-120": "b70f9bf52b73810dfc74a8855aee1c873fc870d58d013bb43a184b35bf647bb5",
    "photos-1472": "782c7f59c757c53590db24a7c6e159822938953bac5a651defb94c9091efddfd",
    "clevr-cast": "7aa424d65e9ed39644d71c780866bc5f42fd0404afc0eb1241a43171c76b37d3",
    "clevr-fine-cast": "8e5ae817620a2ec296ea1e0e4d106515fa2c6b95828cac7ebaf8153dc8f69993",
}


@pytest.mark.parametrize("name", sorted(BITS_DIGEST))
def test_shipped_codecs_code_the_same_bits_as_before(name):
    codec = fewbits.load(name)
    test = data.load(name.split("-")[0], "test")
    x = test.images(torch.arange(min(100, len(test))))              # photos: 70 held-out squares
    blobs = codec.compress(x)
    assert all(blob[1] == zoo.MODELS[name]["fingerprint"] for blob in blobs)
    payloads = [codec.parse(b)[0] for b in blobs]
    model = codec.model
    bits = bitstream.decode_batch(payloads, model.positions, model.bit_model.freqs.numpy(), model.gates)
    assert hashlib.sha256(np.ascontiguousarray(bits, dtype=np.uint8).tobytes()).hexdigest() == BITS_DIGEST[name]
