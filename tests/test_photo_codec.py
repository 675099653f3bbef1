"""The photo codec (codec/fullres.py) with small untrained weights: stripes against the whole
picture, round trips at odd sizes and in odd image modes, sizes on decode, the coder's table against
real files, and damaged files."""
import numpy as np
import pytest
import torch
from PIL import Image

from fewbits import FileCodec, FormatError
from fewbits.codec import PhotoCodec, codec_checkpoint, load_codec
from fewbits.codec.fullres import read_varint, varint
from fewbits.files import save_checkpoint
from fewbits.nn.photo import DECODER_MARGIN, ENCODER_MARGIN, PhotoDecoder, PhotoEncoder, in_stripes
from fewbits.train import initialise


@pytest.fixture(scope="module")
def codec():
    """A small codec whose table was counted on its own bits: files then have the sizes of a real one."""
    torch.manual_seed(0)
    model = PhotoCodec(width=8, deep=16).eval()
    model.fit_table([torch.rand(4, 3, 64, 64) * 0.5 + torch.linspace(0, 0.5, 64) for _ in range(3)])
    return FileCodec(model)


def test_stripes_join_into_exactly_the_whole_picture_and_a_short_margin_shows():
    torch.manual_seed(1)
    encoder, decoder = PhotoEncoder(16, 8), PhotoDecoder(16, 8)
    x = torch.rand(1, 3, 160, 48)
    with torch.no_grad():
        y, p = encoder(x)
        y_striped, p_striped = in_stripes(encoder, x, 32, ENCODER_MARGIN, 1 / 16)
        assert torch.equal(y, y_striped) and torch.equal(p, p_striped)
        b = torch.sign(y)
        assert torch.equal(decoder(b), in_stripes(decoder, b, 2, DECODER_MARGIN, 16))
        assert torch.equal(decoder(b, half=True), in_stripes(lambda s: decoder(s, half=True), b, 1, DECODER_MARGIN, 8))
        assert not torch.equal(decoder(b), in_stripes(decoder, b, 2, 1, 16))     # the margin is what makes it so


@pytest.mark.parametrize("H, W", [(1, 1), (3, 7), (129, 65), (37, 300)])
def test_round_trips_at_odd_sizes_decode_the_encoders_own_bits(codec, H, W):
    """The file decodes to the photo's size, and to exactly what g_s makes of the encoder's bits."""
    torch.manual_seed(H * W)
    x = torch.rand(1, 3, H, W)
    blob = codec.compress(x)[0]
    (x_hat,) = codec.decode([codec.parse(blob)[0]])
    keep, bits = codec.model.code_grid(x)
    b = (2 * bits.float() - 1) * codec.model.mask(keep[None].float())[0]    # (C, h, w)
    with torch.no_grad():
        reference = codec.model.g_s(b[None])[0, :, :H, :W]
    assert x_hat.shape == (3, H, W) and torch.allclose(x_hat, reference, atol=1e-6)


def test_a_large_photo_round_trips_in_tiles_of_every_shape(codec):
    x = torch.rand(1, 3, 2000, 3000)
    blob = codec.compress(x)[0]
    (x_hat,) = codec.decode([codec.parse(blob)[0]])
    assert x_hat.shape == (3, 2000, 3000)                # 188 × 125 positions: four shapes of tile


def test_grey_rgba_16_bit_and_cmyk_files_come_back_in_rgb_at_their_size(codec, tmp_path):
    rng = np.random.default_rng(0)
    images = {"grey.png": Image.fromarray(rng.integers(0, 256, (21, 34), dtype=np.uint8)),
              "rgba.png": Image.fromarray(rng.integers(0, 256, (21, 34, 4), dtype=np.uint8), "RGBA"),
              "deep.png": Image.fromarray(rng.integers(0, 65536, (21, 34), dtype=np.uint16)),          # I;16
              "cmyk.jpg": Image.fromarray(rng.integers(0, 256, (21, 34, 4), dtype=np.uint8), "CMYK")}
    for name, img in images.items():
        img.save(tmp_path / name)
    decoded = codec.decompress(codec.compress([tmp_path / name for name in images]))
    assert [(img.mode, img.size) for img in decoded] == [("RGB", (34, 21))] * 4


def test_sizes_on_decode_keep_the_shape_and_small_ones_take_the_half_size_picture(codec, monkeypatch):
    x = torch.rand(1, 3, 129, 65)
    blob = codec.compress(x)[0]
    halves = []
    forward = codec.model.g_s.forward
    monkeypatch.setattr(codec.model.g_s, "forward", lambda b, half=False: halves.append(half) or forward(b, half))
    for size, shape in ((32, (16, 32)), (64, (32, 64)), (100, (50, 100)), (258, (130, 258))):
        halves.clear()
        (img,) = codec.decompress([blob], size=size)
        assert img.size == shape and set(halves) == {size <= 64}, size


def test_the_counted_table_predicts_the_files(codec):
    """fit_table's figure for a held-out tenth is the coder's cost under the same table: real files
    of those crops are that, plus the header (3 bytes), the size (4) and byte rounding."""
    torch.manual_seed(2)
    crops = torch.rand(20, 3, 64, 64) * 0.5 + torch.linspace(0, 0.5, 64)
    model = PhotoCodec(width=8, deep=16).eval()
    costs = model.fit_table([crops])
    model.fit_table([crops], contexts=(model.args["context"],))      # the same table, counted on all
    bits = [8 * len(b) for b in FileCodec(model).compress(crops[18:])]
    assert costs[model.args["context"]] == min(costs.values())
    assert 0 <= np.mean(bits) - costs[model.args["context"]] <= 56 + 8 + 16


def test_every_truncation_and_bit_flip_of_a_photo_file_is_refused(codec):
    blob = codec.compress(torch.rand(1, 3, 40, 70))[0]
    for cut in range(len(blob)):
        with pytest.raises(FormatError):
            codec.decode([codec.parse(blob[:cut])[0]])
    for bit in range(8 * len(blob)):
        flipped = bytearray(blob)
        flipped[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(FormatError):
            codec.decode([codec.parse(bytes(flipped))[0]])


def test_tile_lengths_round_trip_and_a_cut_one_is_refused():
    for n in (0, 1, 127, 128, 300, 2 ** 21 - 1, 2 ** 27):
        assert read_varint(varint(n) + b"x", 0) == (n, len(varint(n)))
    with pytest.raises(FormatError):
        read_varint(varint(300)[:1], 0)


def test_the_checkpoint_rebuilds_the_codec_with_its_table(codec, tmp_path):
    save_checkpoint(codec_checkpoint(codec.model, data="photos-full"), tmp_path / "p.pt")
    again = FileCodec(load_codec(tmp_path / "p.pt"))
    x = torch.rand(1, 3, 33, 47)
    assert again.fingerprint == codec.fingerprint and again.compress(x) == codec.compress(x)


def test_quality_sets_the_rate_and_the_command_line_codes_photos_at_their_size(tmp_path, capsys):
    """Lower quality, fewer bits, the same decoder. The command line takes the photo whole, one at a
    time, decodes it at its own size unless --size says, and refuses a quality out of range."""
    from fewbits.cli import main
    torch.manual_seed(3)
    model = PhotoCodec(width=8, deep=16).eval()
    with torch.no_grad():
        model.g_a.head.bias[-1] = 1.0                  # importance about 0.88: 4, 2 and 1 of the 4 levels
    codec, x = FileCodec(model), (torch.rand(1, 3, 96, 160) * 255).round() / 255   # as the PNG holds it
    sizes = []
    for quality in (1.0, 0.5, 0.25):
        model.quality = quality
        sizes.append(len(codec.compress(x)[0]))
    model.quality = 1.0
    assert sizes[0] > sizes[1] > sizes[2]
    save_checkpoint(codec_checkpoint(model, data="photos-full"), tmp_path / "p.pt")
    Image.fromarray(np.uint8((255 * x[0].permute(1, 2, 0)).round().numpy())).save(tmp_path / "in.png")
    model = ["--model", str(tmp_path / "p.pt")]
    assert main(["compress", *model, "--quality", "0.5", str(tmp_path / "in.png"), str(tmp_path / "a.bin")]) == 0
    assert main(["decompress", *model, str(tmp_path / "a.bin"), str(tmp_path / "a.png")]) == 0
    assert main(["decompress", *model, "--size", "40", str(tmp_path / "a.bin"), str(tmp_path / "b.png")]) == 0
    assert Image.open(tmp_path / "a.png").size == (160, 96) and Image.open(tmp_path / "b.png").size == (40, 24)
    assert (tmp_path / "a.bin").stat().st_size == sizes[1]             # the same file as the API's
    assert main(["compress", *model, "--quality", "2", str(tmp_path / "in.png"), str(tmp_path / "c.bin")]) == 2
    assert main(["compress", "--model", "easyvqa-64", "--quality", "0.5", str(tmp_path / "in.png"),
                 str(tmp_path / "c.bin")]) == 2
    assert main(["compress", *model, "--benchmark", "10"]) == 2         # the 64×64 codecs' timer
    Image.new("RGB", (70000, 1)).save(tmp_path / "long.png")              # a side the header can't hold
    assert main(["compress", *model, str(tmp_path / "long.png"), str(tmp_path / "d.bin")]) == 2
    assert not (tmp_path / "d.bin").exists()
    err = capsys.readouterr().err
    assert "--quality must be in 0.25…1, not 2.0" in err and "--benchmark times the 64×64 codecs" in err
    assert "long.png: the photo codec takes sides up to 65536 pixels, not 70000×1" in err


def test_every_position_sends_at_least_the_first_level_of_the_map():
    """Where a position sent nothing, the decoder could only guess its colour: level 0 always goes."""
    torch.manual_seed(0)
    model = PhotoCodec(width=8, deep=16)
    with torch.no_grad():
        model.g_a.head.bias[-1] = -30.0                          # p ≈ 0: the map alone would keep nothing
    keep, _ = model.eval().code_grid(torch.rand(1, 3, 48, 80))                       # (L, 3, 5)
    _, keep_training = model.train().split(torch.rand(2, 3, 32, 32), stochastic=True)  # (2, L, 2, 2)
    assert keep[0].all() and not keep[1:].any() and keep_training[:, 0].all()


def test_a_deeper_codec_adopts_a_shallower_ones_weights_and_its_new_channels_start_silent(tmp_path):
    """--init with a larger --deep: the old channels and the map come out of the encoder as before,
    and whatever the new channels say, the decoder draws what the old one drew."""
    torch.manual_seed(0)
    small, big = PhotoCodec(width=8, deep=16).eval(), PhotoCodec(width=8, deep=32).eval()
    save_checkpoint(codec_checkpoint(small), tmp_path / "small.pt")
    initialise(big, str(tmp_path / "small.pt"), "cpu")
    x = torch.rand(1, 3, 64, 48)
    with torch.no_grad():
        (y, p), (y_big, p_big) = small.g_a(x), big.g_a(x)
        b = torch.sign(y_big)                                  # (1, 32, 4, 3): the new half at random
        assert torch.equal(p, p_big) and torch.equal(y, y_big[:, :16])
        assert y_big[:, 16:].abs().sum() > 0                  # the new rows are live, not zero
        assert torch.allclose(small.g_s(b[:, :16]), big.g_s(b), atol=1e-6)
