"""Validation while training: the codec's decodes of validation images, through real files, scored
by the VQA models that train.py holds (the frozen loss model and the held-out judges).

    stats, x_hat = validate(codec, val_data, vqa_models, idx, score_originals(...), device)
    finish(codec, config, ...)      # the end of a run: its coder's table, then the whole split

Retention is a model's accuracy on the decodes over its accuracy on the originals (metrics.py). The
strictest reader, easy-VQA's namer, also says how many shapes come back as themselves. Only the
validation split, carved from the training data, is read here: the test split is the benchmark's.
"""
import torch

from . import files, metrics, vqa
from .api import FileCodec
from .codec import codec_checkpoint
from .vqa import namer


@torch.no_grad()
def validate(codec, val_data, vqa_models, idx, original, device):
    """The validation images idx through real files -> ({bits, psnr, retention_LABEL}, x_hat of the
    first chunk). original: each model's accuracy on the originals, from score_originals."""
    codec.eval()
    encode, decode = FileCodec(codec).method()
    accuracy = {label: metrics.Accuracy(val_data.families) for label in vqa_models}
    stats, first, named = {"bits": 0.0, "psnr": 0.0}, None, []
    shapes = namer.labels_of(val_data)[0].to(device) if "judge_namer" in vqa_models else None   # (N,), -1: untold
    for part in idx.split(250):
        x = val_data.images(part).to(device)
        blobs = encode(x)
        x_hat = decode(blobs).to(device)
        first = x_hat if first is None else first
        stats["bits"] += sum(8 * len(b) for b in blobs) / len(idx)
        stats["psnr"] += metrics.psnr(x_hat, x) * len(part) / len(idx)
        count(accuracy, vqa_models, val_data, part, x_hat)
        if shapes is not None:                           # the strictest reader: is each shape itself?
            told = shapes[part.to(device)]
            named.append((vqa_models["judge_namer"].heads(x_hat)[0].argmax(1) == told)[told >= 0])
    codec.train()
    for label, acc in accuracy.items():
        stats[f"retention_{label}"] = metrics.retention(acc.result(), original[label])["overall"]
    if named:
        stats["shapes_named"] = torch.cat(named).float().mean().item()
    return stats, first


def count(accuracy, vqa_models, val_data, idx, x):
    """Add each VQA model's answers about images idx, shown as x, to its Accuracy."""
    if not val_data.has_questions:
        return
    qi, tokens, answers = (t.to(x.device) for t in val_data.questions_of(idx))
    for label, model in vqa_models.items():
        accuracy[label].add(model(x, qi, tokens), answers, val_data.family_of(idx))


@torch.no_grad()
def score_originals(val_data, vqa_models, idx, device):
    """Each VQA model's accuracy on the original validation images idx: the ceilings of retention."""
    accuracy = {label: metrics.Accuracy(val_data.families) for label in vqa_models}
    for part in idx.split(250):
        count(accuracy, vqa_models, val_data, part, val_data.images(part).to(device))
    return {label: acc.result() for label, acc in accuracy.items()}


def summary(stats, data, n):
    """The last line of a run: bits, PSNR and the lowest held-out retention of the n validation images."""
    judged = {k[len("retention_judge_"):]: v for k, v in stats.items() if k.startswith("retention_judge_")}
    held_out = {k: v for k, v in judged.items() if k in vqa.PANEL.get(data, [])}
    line = f"validation split ({n} images, real files): {stats['bits']:.1f} bits per file, " \
           f"PSNR {stats['psnr']:.2f} dB"
    if held_out:
        same = f"; the loss model's family, another seed: {100 * judged['attention']:.1f}%" if "attention" in judged else ""
        line += f"; held-out retention {100 * min(held_out.values()):.1f}% (lowest of " + \
            ", ".join(f"{k} {100 * v:.1f}%" for k, v in held_out.items()) + same + ")"
    if "shapes_named" in stats:
        line += f"; shapes the namer names right {100 * stats['shapes_named']:.1f}%"
    return line


def finish(codec, config, train_data, val_data, vqa_models, device, out, step, minutes):
    """The coder's table, counted on the codec's own bits for the training images (each image once,
    or 20,000 random crops of a few photos) with as many bits of context as pay (Codec.fit_table);
    then the whole validation split through real files. -> the last line's figures."""
    idx = torch.randperm(len(train_data)) if len(train_data) >= 1000 else torch.randint(len(train_data), (20_000,))
    idx = idx[:64] if config.dry_run else idx
    val_idx = torch.arange(min(len(val_data), 8 if config.dry_run else len(val_data)))
    if getattr(val_data, "scenes", None):           # the object code's threshold (first: it changes the bits)
        chosen = codec.eval().calibrate((val_data.images(part).to(device) for part in val_idx.split(500)),
                                        [val_data.scenes[i] for i in val_idx.tolist()])
        if chosen:
            print("chosen on the validation split: " + ", ".join(f"{k}: {v}" for k, v in chosen.items()))
    costs = codec.eval().fit_table(train_data.images(part).to(device) for part in idx.split(500))
    files.save_checkpoint(codec_checkpoint(codec, data=config.data), out / "codec.pt")
    print(f"done: {step} steps in {minutes:.1f} minutes; {out / 'codec.pt'}, its coder's table counted on "
          f"{len(idx)} training images with {codec.args['context']} bits of context (bits per image on a "
          "held-out tenth, by context: " + ", ".join(f"{k}: {v:.1f}" for k, v in costs.items()) + ")")
    original = score_originals(val_data, vqa_models, val_idx, device)
    stats, _ = validate(codec, val_data, vqa_models, val_idx, original, device)
    print(summary(stats, config.data, len(val_idx)))
    return stats
