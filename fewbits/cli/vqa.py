"""fewbits vqa | judges: train the VQA model in the codec's loss, or a judge of another family.

    fewbits vqa --data scenes --seed 0                      # -> runs/vqa-scenes-seed0.pt
    fewbits vqa --data clevr --seed 0                       # CLEVR in 3D, 128×128
    fewbits judges --data easyvqa --family film             # -> runs/judge-easyvqa-film.pt
    fewbits judges --data scenes --family transformer --epochs 16 --minutes 62
    fewbits judges --data clevr --family symbolic3d      # a detector and CLEVR's question programs

Both train on the original training images and report accuracy on the validation split, carved
from the training data. The zoo's commands say how each shipped one was made.
"""
import argparse
import sys
from pathlib import Path

import torch

from .. import data as datasets
from .. import files, vqa
from ..bench.protocol import measure, originals


def parser(prog, description, judges):
    p = argparse.ArgumentParser(prog=prog, description=description)
    if judges:
        p.add_argument("--data", default="easyvqa", choices=["easyvqa", "scenes", "clevr"])
        p.add_argument("--family", default="film", choices=[f for f in vqa.FAMILIES if f not in ("attention", "objects")])
    else:
        p.add_argument("--data", default="scenes", choices=["easyvqa", "scenes", "clevr"])
    p.add_argument("--epochs", type=int, default=None, help="passes over the training images")
    p.add_argument("--questions", type=int, default=None,
                   help="questions per image per step, drawn at random (default: all; 4 for clevr's 15)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--minutes", type=float, default=15, help="stop early at this wall-clock budget")
    p.add_argument("--out", default=None, help="the checkpoint to write (default: under runs/)")
    return p


def print_table(rows, families):
    print(f"{'':14s}" + "".join(f"{f:>9s}" for f in families + ["overall"]))
    for name, acc in rows.items():
        print(f"{name:14s}" + "".join(f"{100 * acc[f]:8.1f}%" for f in families + ["overall"]))


def fit(args, make_model, default_out, blind=False):
    """Load the data, train the model make_model(train_data) builds, report it on the validation split
    (beside a question-only model if `blind`) and save it -> exit code."""
    torch.manual_seed(args.seed)
    args.questions = {"clevr": 4}.get(args.data, 0) if args.questions is None else args.questions
    try:
        train_data, val_data = datasets.load(args.data, "train"), datasets.load(args.data, "val")
    except (datasets.DataError, files.FileError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{args.data}: {len(train_data)} train / {len(val_data)} validation images, {torch.get_num_threads()} threads")
    model, minutes = make_model(train_data)
    models = {args.family if hasattr(args, "family") else "VQA model": model.eval()}
    if blind:
        models["question only"] = vqa.Blind(len(train_data.vocab), len(train_data.answer_names))
        vqa.train(models["question only"], train_data, 1, seed=args.seed, desc="blind")
    acc = measure(originals(), models, val_data).acc
    print_table(acc, val_data.families)
    print(f"trained {minutes:.1f} minutes on {torch.get_num_threads()} threads")
    out = Path(args.out or default_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    info = {k: v for k, v in vars(args).items() if k in ("family", "data", "seed", "epochs", "questions")}
    files.save_checkpoint(vqa.vqa_checkpoint(model, train_data, **info, val_accuracy=next(iter(acc.values())),
                                             train_minutes=minutes), out)
    print(f"saved {out}")
    return 0


def answering(model, train_data, args):
    """Train a VQA model that learns from the answers -> (model, minutes). On CLEVR its cells learn the
    scene graph too (vqa.WithGraphs), for a model that has cells to read it from."""
    if args.data == "clevr" and hasattr(model, "image_features"):
        both = vqa.WithGraphs(model, args.seed)
        return model, vqa.train(both, train_data, args.epochs, seed=args.seed, minutes=args.minutes,
                                desc=type(model).__name__.lower(),
                                loss_of=lambda idx: both.loss_on(train_data, idx, args.questions))
    return model, vqa.train(model, train_data, args.epochs, seed=args.seed, minutes=args.minutes,
                            desc=type(model).__name__.lower(), questions=args.questions)


def judges_main(argv=None, prog="fewbits judges"):
    args = parser(prog, "Train a held-out judge: a VQA model of another family than the loss model's.", True).parse_args(argv)
    readers = {"symbolic": "scenes", "namer": "easyvqa", "symbolic3d": "clevr"}   # judges that learn what the image holds
    only = {**{f: [d] for f, d in readers.items()}, "fusion": ["easyvqa", "scenes"]}   # fusion's CNN ends at 4×4: 64 px
    if args.data not in only.get(args.family, [args.data]):
        print(f"error: the {args.family} judge reads {' and '.join(only[args.family])} images only, "
              f"not --data {args.data}", file=sys.stderr)
        return 2
    args.epochs = args.epochs or 10

    def make(train_data):
        if args.family in readers:
            model = vqa.FAMILIES[args.family](train_data.vocab, train_data.answer_names)
            return model, vqa.judges.train_reader(model, train_data, args.epochs, seed=args.seed, minutes=args.minutes)
        return answering(vqa.FAMILIES[args.family](len(train_data.vocab), len(train_data.answer_names)), train_data, args)
    return fit(args, make, f"runs/judge-{args.data}-{args.family}.pt")


def vqa_main(argv=None, prog="fewbits vqa"):
    args = parser(prog, "Train the attention VQA model that a codec's loss uses, frozen.", False).parse_args(argv)
    args.epochs = args.epochs or {"easyvqa": 30, "scenes": 11, "clevr": 11}[args.data]

    def make(train_data):
        shape = len(train_data.vocab), len(train_data.answer_names)
        model = vqa.ObjectVQA(*shape) if args.data == "clevr" else vqa.VQA(*shape)   # clevr: 128 px, its graph
        return answering(model, train_data, args)
    return fit(args, make, f"runs/vqa-{args.data}-seed{args.seed}.pt", blind=True)
