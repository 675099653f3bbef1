"""fewbits evaluate: the baselines' files, and the whole command on a tiny subset."""
import math

import torch
from PIL import Image

from fewbits import files, metrics, vqa
from fewbits.bench import baselines, protocol, report
from fewbits.cli import evaluate
from fewbits.codec import GlobalCodec, GridCodec, codec_checkpoint
from fewbits.coding import arithmetic
from fewbits.data import clevr, scenes


def test_thumbnail_files_hold_exactly_k_k_3_b_bits():
    """The decode is the bilinear enlargement of the thumbnail rounded to 2^b - 1 levels, nothing else."""
    torch.manual_seed(0)
    encode, decode = baselines.thumbnail(4, 5)
    x = torch.rand(3, 3, 64, 64)
    files = encode(x)
    assert [8 * len(f) for f in files] == [240] * 3
    levels = (torch.nn.functional.interpolate(x, size=(4, 4), mode="area") * 31).round() / 31
    expected = torch.nn.functional.interpolate(levels, size=(64, 64), mode="bilinear", align_corners=False)
    assert (decode(files) - expected).abs().max() < 1e-6


def test_scene_graph_code_is_compact_and_redraws_the_scene():
    images, graphs, _ = scenes.generate(20, "test")
    encode, decode = baselines.scene_graph(graphs)
    files = encode(torch.zeros(20, 3, 64, 64), torch.arange(20))
    for f, g in zip(files, graphs):
        assert len(f) == math.ceil((3 + 14 * len(g["objects"])) / 8)
    redrawn = decode(files)
    original = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    assert metrics.psnr(redrawn, original) > 15                      # the same objects, 2 px off at most


def test_clevr_scene_graph_code_keeps_every_answer_and_redraws_the_scene():
    """20 bits an object (2 shape, 3 colour, 1 material, 1 size, 5 + 5 place, 3 turn) after 3 of
    count; the places move by under half of CLEVR's margin, so every question keeps its answer."""
    images, graphs, _ = clevr.generate(6, "test", seed=5, size=64)
    encode, decode = baselines.scene_graph(graphs, baselines.CLEVR_GRAPH, lambda g: clevr.draw(g, 64)[0])
    blobs = encode(torch.zeros(6, 3, 64, 64), torch.arange(6))
    assert [len(f) for f in blobs] == [math.ceil((3 + 20 * len(g["objects"])) / 8) for g in graphs]
    bits = [arithmetic.unpack_bits(f) for f in blobs]
    redrawn = decode(blobs)
    original = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    assert redrawn.shape == original.shape and metrics.psnr(redrawn, original) > 18
    step = 2 * clevr.EXTENT / 32
    for g, b in zip(graphs, bits):
        xs = [int("".join(map(str, b[3 + 20 * i + 7:3 + 20 * i + 12])), 2) for i in range(len(g["objects"]))]
        assert all(abs(-clevr.EXTENT + (x + 0.5) * step - o["x"]) <= step / 2 for x, o in zip(xs, g["objects"]))


def test_the_command_writes_its_report_on_a_tiny_subset(tmp_path):
    """A random-weight codec, 20 easy-VQA test images: every row is measured and the files appear."""
    torch.manual_seed(0)
    (tmp_path / "random-64").mkdir()               # a run's codec.pt is named after its folder
    files.save_checkpoint(codec_checkpoint(GlobalCodec(bits=64, width=8), data="easyvqa"),
                          tmp_path / "random-64" / "codec.pt")
    (tmp_path / "results").mkdir()                 # a scenes sheet from an earlier run: kept, below
    for picture in ("samples", "rate_accuracy"):
        Image.new("RGB", (30, 7), "red").save(tmp_path / "results" / f"{picture}-scenes.png")
    assert evaluate.main(["--data", "easyvqa", "--limit", "20", "--codec", str(tmp_path / "random-64" / "codec.pt"),
                          "--out", str(tmp_path / "results")]) == 0
    report = (tmp_path / "results" / "benchmark.md").read_text()
    for row in ("ours, random-64", "thumbnail 4×4", "JPEG q1", "WebP q0", "original (ceiling)", "question only (floor)"):
        assert row in report
    assert "| ours, random-64 | 96 |" in report      # 64 coded bits at p = 1/2, finish()'s 2: 9 bytes; + 3-byte header
    original = next(line for line in report.splitlines() if line.startswith("| original"))
    assert "| FD |" in report and "| 0.00 |" in original                # originals against themselves
    sheet, easyvqa = (Image.open(tmp_path / "results" / f) for f in ("samples.png", "samples-easyvqa.png"))
    assert sheet.height == easyvqa.height + 7 and sheet.getpixel((0, sheet.height - 1)) == (255, 0, 0)
    plot, easyvqa = (Image.open(tmp_path / "results" / f) for f in ("rate_accuracy.png", "rate_accuracy-easyvqa.png"))
    assert plot.width == easyvqa.width + 30 and plot.getpixel((plot.width - 1, 0)) == (255, 0, 0)
    assert "| method | named right | circle → rectangle |" in report and "| all right |" in report


def test_each_ablation_is_set_against_its_codec_on_the_same_questions():
    """X answers all 10 questions right; X-no-adv misses the 2 about image 0: +20 points under
    every judge. The interval starts at 0 (a third of the draws leave image 0 out) and never below,
    for X is never wrong where the ablation is right. A codec without an ablation, and a baseline,
    get no line."""
    right = torch.ones(10, dtype=torch.bool)
    asked = torch.arange(5).repeat_interleave(2)                     # 5 images, 2 questions each
    row = lambda hits: protocol.Row(right=dict.fromkeys(vqa.PANEL["easyvqa"], hits), asked=asked)
    rows = [("ours, x", row(right)), ("ours, x-no-adv", row(right & (asked > 0))),
            ("ours, y", row(right)), ("WebP q0", row(right))]
    lines = report.ablation_table("easyvqa", rows)
    table = [line for line in lines if line.startswith("| x")]
    assert len(table) == 1 and table[0].startswith("| x − x-no-adv | +20.00 (")
    assert table[0].count("+20.00 (+0.00 to +") == 3
    assert report.ablation_table("easyvqa", rows[2:]) == []


def test_choosing_reads_the_validation_split_and_draws_no_test_pictures(tmp_path, monkeypatch):
    """--split val: every image the rows are measured on is a validation image; the pictures,
    which are of test images, are left out."""
    torch.manual_seed(0)
    files.save_checkpoint(codec_checkpoint(GlobalCodec(bits=64, width=8), data="easyvqa"), tmp_path / "a.pt")
    splits, load = [], protocol.datasets.load
    monkeypatch.setattr(protocol.datasets, "load", lambda name, split, **kw: splits.append(split) or load(name, split, **kw))
    assert evaluate.main(["--split", "val", "--data", "easyvqa", "--limit", "8", "--codec", str(tmp_path / "a.pt"),
                          "--out", str(tmp_path / "val")]) == 0
    assert "val" in splits and "test" not in splits             # the floor model trains on "train"
    assert "--split val" in (tmp_path / "val" / "benchmark.md").read_text()
    assert not (tmp_path / "val" / "samples.png").exists() and not (tmp_path / "val" / "misnamed.png").exists()


def test_the_photos_report_on_a_tiny_subset(tmp_path):
    """The photos section: no questions, so bits, PSNR, SSIM and FD per method, and the sheet of
    whole held-out photos; there is no retention plot without questions."""
    torch.manual_seed(0)
    files.save_checkpoint(codec_checkpoint(GridCodec(bits=64, width=8), data="photos"), tmp_path / "grid-64.pt")
    assert evaluate.main(["--data", "photos", "--limit", "10", "--codec", str(tmp_path / "grid-64.pt"),
                          "--out", str(tmp_path / "results")]) == 0
    report = (tmp_path / "results" / "benchmark.md").read_text()
    for row in ("| ours, grid-64 |", "| ours, grid-64, search 400 |", "| thumbnail 4×4, 5 bit | 240 |", "| JPEG q1 |", "| WebP q0 |", "| original (ceiling) | 0 | ∞ | 1.000 | 0.00 |"):
        assert row in report, row
    assert (tmp_path / "results" / "photos.png").exists() and not (tmp_path / "results" / "rate_accuracy.png").exists()


def test_a_run_of_one_dataset_keeps_the_others_sections_of_a_whole_report():
    """Rerunning one section into results/ replaces it and keeps the rest, in their order, saying so;
    a run on a subset (--limit) or on the validation split is never merged with a whole report."""
    old = ("Machine: a.\nCommand: `fewbits evaluate`.\n\n### easyvqa\n\nE\n\n### photos at their own size"
           "\n\nOLD\n\n### clevr\n\nC\n")
    new = "Machine: b.\nCommand: `fewbits evaluate --data photos-full`.\n\n### photos at their own size\n\nNEW\n"
    text = report.merged(new, old)
    assert text.startswith("Machine: b.\nCommand: `fewbits evaluate --data photos-full`.\n")
    assert "not measured again: easyvqa, clevr." in text and "OLD" not in text
    assert text.index("### easyvqa") < text.index("NEW") < text.index("### clevr")
    for partial in ("--limit 5", "--split val", "--split=val"):
        assert report.merged(new.replace("photos-full", f"photos-full {partial}"), old).count("###") == 1
    assert report.merged(new, old.replace("evaluate`", "evaluate --limit 9`")) == new


def test_mistakes_are_one_line_and_exit_2(tmp_path, capsys):
    torch.manual_seed(0)
    files.save_checkpoint(codec_checkpoint(GlobalCodec(bits=64, width=8), data=str(tmp_path)), tmp_path / "folder.pt")
    (tmp_path / "garbage.pt").write_bytes(b"\x80\x02 not a checkpoint")
    cases = {("--limit", "0"): "--limit must be at least 1",
             ("--codec", str(tmp_path / "garbage.pt")): "not a readable checkpoint",
             ("--codec", str(tmp_path / "folder.pt")): "test sets for easyvqa, scenes, clevr, photos, photos-full only",
             ("--codec", str(tmp_path / "missing.pt")): "no such checkpoint"}
    for args, message in cases.items():
        code = evaluate.main([*args, "--out", str(tmp_path / "out")])
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and message in lines[0], (args, err)
        assert "weights_only" not in err and not (tmp_path / "out" / "benchmark.md").exists()


def test_a_dataset_without_shipped_judges_is_refused_in_one_line(tmp_path, capsys, monkeypatch):
    """Without a panel of judges a benchmark can't judge anything: one line, exit 2."""
    monkeypatch.delitem(vqa.PANEL, "clevr", raising=False)
    torch.manual_seed(0)
    files.save_checkpoint(codec_checkpoint(GridCodec(bits=64, width=8, size=128), data="clevr"),
                          tmp_path / "c.pt")
    assert evaluate.main(["--data", "clevr", "--codec", str(tmp_path / "c.pt"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "clevr: no panel of judges" in err
