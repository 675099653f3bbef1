"""A small easy-VQA-style VQA model with FiLM, and the script that trains it on original images.

    python vqa.py --data scenes --seed 0 --out checkpoints/vqa-scenes-loss.pt

The model (Perez et al. 2018, "FiLM: Visual Reasoning with a General Conditioning Layer"):
    image (B, 3, 64, 64) -> CNN -> features (B, C, 8, 8)             once per image
    question tokens (Q, L) -> embedding -> GRU -> q (Q, D)              once per question
    features[qi] -> residual blocks whose BN output is scaled and shifted by (γ, β) = Linear(q)
                 -> 1×1 conv -> max and mean over positions -> MLP -> answer logits (Q, A)
Coordinate channels go into every block, so "left of" and "above" can be read off positions.
FiLM lets the question steer which features survive at every position, which is what counting and
relations need; concatenating one image vector with one question vector does not do that.

The codec uses two such models: one frozen as a loss, and one trained separately (another seed)
that only judges decoded images. A codec can learn to fool the model it trains against.
"""
import argparse
import io
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

import data as datasets


def coords(f):
    """(B, 2, H, W) x and y positions in [-1, 1], for feature map f."""
    B, _, H, W = f.shape
    y, x = torch.meshgrid(torch.linspace(-1, 1, H, device=f.device), torch.linspace(-1, 1, W, device=f.device),
                          indexing="ij")
    return torch.stack([x, y]).expand(B, 2, H, W).to(f.dtype)


class FiLMBlock(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.conv1 = nn.Conv2d(width + 2, width, 1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.bn = nn.BatchNorm2d(width, affine=False)        # FiLM supplies the affine part

    def forward(self, f, gamma, beta):                       # f (Q, C, H, W); gamma, beta (Q, C)
        f = F.relu(self.conv1(torch.cat([f, coords(f)], 1)))
        h = self.bn(self.conv2(f)) * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]
        return f + F.relu(h)


class QuestionEncoder(nn.Module):
    """(Q, L) token ids, 0-padded on the right -> (Q, qdim): the GRU state at each question's last word."""

    def __init__(self, vocab_size, qdim=128):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, 64, padding_idx=0)
        self.gru = nn.GRU(64, qdim, batch_first=True)

    def forward(self, tokens):
        out, _ = self.gru(self.embed(tokens))
        last = (tokens > 0).sum(1).clamp(min=1) - 1
        return out[torch.arange(len(tokens)), last]


class VQA(nn.Module):
    def __init__(self, vocab_size, num_answers, width=64, blocks=3, qdim=128):
        super().__init__()
        def down(cin, cout):
            return [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]
        self.cnn = nn.Sequential(*down(3, 32), *down(32, 64), *down(64, width),
                                 nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU())  # 64 -> 8
        self.question = QuestionEncoder(vocab_size, qdim)
        self.film = nn.Linear(qdim, blocks * 2 * width)
        self.blocks = nn.ModuleList(FiLMBlock(width) for _ in range(blocks))
        self.pool_conv = nn.Conv2d(width + 2, 128, 1)
        self.mlp = nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, num_answers))

    def image_features(self, x):                             # (B, 3, 64, 64) in [0, 1] -> (B, C, 8, 8)
        return self.cnn(x - 0.5)

    def answer(self, feats, qi, tokens):
        """Logits (Q, A) for questions `tokens` about images `qi` (indices into feats)."""
        film = self.film(self.question(tokens)).chunk(2 * len(self.blocks), dim=1)
        f = feats[qi]
        for k, block in enumerate(self.blocks):
            f = block(f, film[2 * k], film[2 * k + 1])
        f = F.relu(self.pool_conv(torch.cat([f, coords(f)], 1)))
        return self.mlp(torch.cat([f.amax(dim=(2, 3)), f.mean(dim=(2, 3))], 1))   # max finds, mean counts

    def forward(self, x, qi, tokens):
        return self.answer(self.image_features(x), qi, tokens)


class Blind(nn.Module):
    """The question-only baseline: the same question encoder, no image. Shows what priors alone give."""

    def __init__(self, vocab_size, num_answers, qdim=128):
        super().__init__()
        self.question = QuestionEncoder(vocab_size, qdim)
        self.mlp = nn.Sequential(nn.Linear(qdim, 256), nn.ReLU(), nn.Linear(256, num_answers))

    def forward(self, x, qi, tokens):
        return self.mlp(self.question(tokens))


# ---- training and scoring ----------------------------------------------------------------------

def image_batches(n, batch_size, generator=None):
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return order.split(batch_size)


@torch.no_grad()
def evaluate(model, data, transform=None, batch_size=250, limit=None):
    """Accuracy overall and per family on `data`; `transform` maps images first (e.g. a codec)."""
    model.eval()
    right = torch.zeros(len(data.families))
    total = torch.zeros(len(data.families))
    for idx in image_batches(limit or len(data), batch_size):
        x = data.images(idx)
        if transform is not None:
            x = transform(x)
        qi, tokens, answers = data.questions_of(idx)
        hit = (model(x, qi, tokens).argmax(1) == answers).float()
        fam = data.family_of(idx)
        right += torch.zeros_like(right).index_add_(0, fam, hit)
        total += torch.bincount(fam, minlength=len(total)).float()
    acc = {f: (right[k] / total[k]).item() for k, f in enumerate(data.families) if total[k] > 0}
    acc["overall"] = (right.sum() / total.sum()).item()
    return acc


def train(model, data, epochs, batch_size=64, lr=2e-3, seed=0, minutes=None, desc="train"):
    """AdamW with a one-cycle schedule over `epochs` passes of the images; returns minutes taken."""
    g = torch.Generator().manual_seed(seed)
    steps = epochs * len(image_batches(len(data), batch_size))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    start = time.time()
    bar = tqdm(total=steps, desc=desc, dynamic_ncols=True)
    for epoch in range(epochs):
        model.train()
        for idx in image_batches(len(data), batch_size, g):
            qi, tokens, answers = data.questions_of(idx)
            logits = model(data.images(idx), qi, tokens)
            loss = F.cross_entropy(logits, answers)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update()
            bar.set_postfix(epoch=epoch, loss=f"{loss.item():.3f}", acc=f"{(logits.argmax(1) == answers).float().mean():.3f}")
            if minutes and time.time() - start > 60 * minutes:
                bar.close()
                return (time.time() - start) / 60
    bar.close()
    return (time.time() - start) / 60


def save_checkpoint(obj, path):
    """torch.save to a temp file, then rename: a crash never leaves half a checkpoint."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(buf.getvalue())
    os.replace(tmp, path)


def load_vqa(path, device="cpu"):
    """Rebuild a VQA model from its checkpoint alone; returns (model in eval mode, checkpoint dict)."""
    ckpt = torch.load(path, map_location=device, weights_only=True)
    model = VQA(**ckpt["model_args"]).to(device)
    model.load_state_dict(ckpt["model"])
    return model.eval(), ckpt


def print_table(rows, families):
    print(f"{'':14s}" + "".join(f"{f:>9s}" for f in families + ["overall"]))
    for name, acc in rows.items():
        print(f"{name:14s}" + "".join(f"{100 * acc[f]:8.1f}%" for f in families + ["overall"]))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="scenes", help="easyvqa | scenes")
    p.add_argument("--epochs", type=int, default=None, help="default: 12 for easyvqa, 6 for scenes")
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--minutes", type=float, default=15, help="stop early at this wall-clock budget")
    p.add_argument("--out", default=None, help="default: checkpoints/vqa-DATA-seedN.pt")
    args = p.parse_args()
    torch.manual_seed(args.seed)
    try:
        train_data, test_data = datasets.load(args.data, "train"), datasets.load(args.data, "test")
        if not train_data.answers:
            raise datasets.DataError(f"{args.data}: a folder of images has no questions to train a VQA model on")
    except datasets.DataError as e:
        sys.exit(print(f"error: {e}", file=sys.stderr) or 2)
    epochs = args.epochs or {"easyvqa": 12, "scenes": 6}[args.data]
    print(f"{args.data}: {len(train_data)} train / {len(test_data)} test images, "
          f"{len(train_data.q_answer)} / {len(test_data.q_answer)} questions, {torch.get_num_threads()} threads")

    model_args = dict(vocab_size=len(train_data.vocab), num_answers=len(train_data.answers), width=args.width)
    model = VQA(**model_args)
    minutes = train(model, train_data, epochs, seed=args.seed, minutes=args.minutes)
    acc = evaluate(model, test_data)

    blind = Blind(len(train_data.vocab), len(train_data.answers))
    train(blind, train_data, 1, seed=args.seed, desc="blind")
    print_table({"VQA model": acc, "question only": evaluate(blind, test_data)}, test_data.families)
    print(f"trained {minutes:.1f} minutes on {torch.get_num_threads()} threads")

    out = args.out or f"checkpoints/vqa-{args.data}-seed{args.seed}.pt"
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    save_checkpoint({"model_args": model_args, "model": model.state_dict(), "vocab": train_data.vocab,
                     "answers": train_data.answers, "families": train_data.families, "data": args.data,
                     "seed": args.seed, "epochs": epochs, "test_accuracy": acc, "train_minutes": minutes}, out)
    print(f"saved {out}")


if __name__ == "__main__":
    main()
