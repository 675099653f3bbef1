"""Train the codec: encoder, binarizer, decoder (the GAN generator) and bit model, in one loop.

    python train.py --bits 256                                  # easy-VQA, 20 minutes on 2 CPU cores
    python train.py --data scenes --bits 256 --code grid
    python train.py --data scenes --bits 128 --code map         # 128 bits on average, up to 256
    python train.py --bits 256 --w_kl 0 --w_feat 0              # the ablation without the VQA terms
    python train.py --data photos --code grid                  # Debian's photos, no questions: MSE + GAN + rate
    python train.py --data path/to/folder --code grid          # any folder of images, the same way
    torchrun --nproc_per_node=2 train.py --bits 256             # DistributedDataParallel

Each step has two updates, as in PyTorch's DCGAN example:
  (1) D on (original, question) versus (decoded.detach(), question), hinge loss;
  (2) encoder + decoder + bit model on MSE distortion, VQA consistency (a frozen VQA model's answers
      and cell features on the decoded image versus the original), the adversarial loss and the rate.
The rate is the expected code length (quantize.py), so it reaches the encoder. With --code map the
length varies from image to image: --bits is then the budget for the mean over the training data,
the capacity twice that, and the price of a bit rises while the running rate is over the budget.
The learning rates are constant, then fall linearly to 0 over the last 30% of the run, counted in
steps or in minutes (--minutes), whichever is further along. The frozen VQA model is never trained
on decoded images. VQA models of other families (judges.py), which the codec never sees, judge the
decodes: the codec can learn to fool the model it trains against, so watch the held-out judges.
"""
import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
from torchvision.utils import save_image
from tqdm import tqdm

import data as datasets
import files
import judges
import metrics
import vqa
from discriminator import Discriminator, d_hinge_loss, g_hinge_loss
from encoder import check_code
from model import Codec, codec_checkpoint

CKPT = Path(__file__).parent / "checkpoints"         # the shipped VQA models, wherever train.py is run from

# ---- defaults: each can be set on the command line, e.g. --bits 64 --w_adv 0 ------------------------
defaults = dict(
    data="easyvqa",     # easyvqa | scenes | photos | a folder of images
    bits=256,           # bits per image; the file is bits/8 + 3 bytes, or less if the bit model predicts well
    width=16,           # encoder / decoder channels
    deep=0,             # channels of the 4×4 features (0: 4 × width); 256 for photos at WebP's bits
    context=2,          # the rate term's bit model: each bit given this many before it (the coder's is counted at the end)
    code="global",      # global | grid | map: how the encoder lays out the bits (encoder.py); grid for scenes
    steps=7500,         # stop here or at --minutes, whichever comes first
    batch=32,           # images per step
    questions=4,        # a step trains on batch × this many of the batch's questions, drawn at random
    lr=1e-3,            # encoder, decoder, bit model
    lr_d=4e-4,          # discriminator
    w_mse=5.0,          # distortion at 64 and 32 pixels (MSE: L1 learned the empty background first, far slower)
    w_kl=0.1,           # VQA answers: KL(answers on original || answers on decode)
    w_feat=0.1,         # VQA cell features: MSE
    w_adv=0.0025,       # generator's hinge loss (0.005 and 0.02 kept fewer answers and looked less real on easy-VQA)
    jitter=0,           # VQA loss on original and decode both moved by up to this many pixels, noise on the decode (0: off)
    w_rate=0.01,        # bits per image (as a fraction of --bits): fits the bit model, and asks for cheap bits
    warmup=300,         # first steps without the binarizer: the decoder learns to read the code before the noise
    decay=0.3,          # learning rates fall linearly to 0 over this last fraction of the run (steps or minutes)
    eval_every=250,     # steps between validations, sample pictures and checkpoints
    out="",             # default runs/DATA-BITS
    vqa="",             # frozen VQA loss model; default checkpoints/vqa-DATA-loss.pt, else trained here
    seed=0,             # torch's seed: the batches, the initial weights, the binarizer's noise
    device="auto",      # auto | cpu | cuda | mps
    minutes=20.0,       # stop cleanly after this wall-clock budget (0: no budget)
    init="",            # start from this codec's weights where they fit (the bit model starts afresh)
    resume=False,       # continue OUT/ckpt.pt: its step, optimiser state and flags (--steps, --minutes may change)
    dry_run=False,      # one small batch, for tests
)
# --help shows the comment beside each default above
comments = dict(re.findall(r"^    (\w+)=[^#\n]*# (.*)$", Path(__file__).read_text(encoding="utf-8"), re.M))
parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
for key, value in defaults.items():
    kind = dict(action="store_true") if isinstance(value, bool) else dict(type=type(value), default=value)
    parser.add_argument(f"--{key}", help=comments.get(key, "").replace("%", "%%"), **kind)
args = parser.parse_args()
typed = {a[2:].split("=")[0] for a in sys.argv[1:] if a.startswith("--")}   # the flags on the command line
name = Path(args.data).name if args.data not in ("easyvqa", "scenes") else args.data
out = Path(args.out or f"runs/{name}-{args.bits}")


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


# a resumed run takes its flags from its checkpoint; only its length and device may change
if args.resume:
    try:
        resumed = files.load_checkpoint(out / "ckpt.pt", keys=("args", "codec", "disc", "opt_g", "opt_d", "step", "minutes"))
    except files.CheckpointError as e:
        fail(f"{e}: nothing to resume")
    saved = resumed["args"]
    for key in sorted(typed - {"steps", "minutes", "eval_every", "device", "resume", "out"}):
        if key in saved and saved[key] != getattr(args, key):
            fail(f"--{key} {getattr(args, key)} contradicts the run in {out} ({key} {saved[key]}); "
                 f"leave it out to continue that run, or give a new --out")
    # the checkpoint's flags over this command's; a flag newer than the checkpoint keeps its default
    args = argparse.Namespace(**{**vars(args), **saved, **{k: getattr(args, k) for k in typed if k in saved}, "resume": True})
elif args.dry_run:
    args.steps, args.batch, args.eval_every = 1, 4, 1
weights = {"mse": args.w_mse, "kl": args.w_kl, "feat": args.w_feat, "adv": args.w_adv, "rate": args.w_rate}


capacity = -(-2 * args.bits // 64) * 64 if args.code == "map" else args.bits   # map: 2 × the mean, in whole groups
try:
    check_code(capacity, args.code, args.deep)       # before any data is loaded: --bits 100, --code foo
except ValueError as e:
    fail(f"{e} (--code map: twice --bits, rounded up to 64)" if args.code == "map" else e)
PRICE_STEP = 1e-3   # the map code: how fast the price of a bit follows the rate's excess over --bits

# ---- setup: devices and processes ---------------------------------------------------------------
ddp = "RANK" in os.environ
if args.device == "auto":
    args.device = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
try:
    device = torch.device(args.device)
except RuntimeError:
    fail(f"--device {args.device}: not a device name (auto, cpu, cuda, cuda:1, mps)")
if (device.type == "cuda" and not torch.cuda.is_available()) or (device.type == "mps" and not torch.backends.mps.is_available()):
    fail(f"--device {args.device}: this machine has no {device.type.upper()} device; use --device cpu, or auto")
if ddp:
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    if device.type == "cuda":
        device = torch.device(f"cuda:{int(os.environ['LOCAL_RANK'])}")
        torch.cuda.set_device(device)
else:
    rank, world = 0, 1
master = rank == 0
torch.manual_seed(args.seed + rank)                  # each process draws its own batches
autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

# ---- data and the VQA models ------------------------------------------------------------------
try:
    train_data = datasets.load(args.data, "train")
    val_data = datasets.load(args.data, "test")
except (datasets.DataError, files.FileError) as e:
    fail(e)
vqa_models = {}                                      # "loss_model" (in the loss, frozen), then the judges (never)
if train_data.has_questions:
    vqa_path = Path(args.vqa) if args.vqa else CKPT / f"vqa-{args.data}-loss.pt"
    if not vqa_path.exists():
        if ddp:
            fail(f"{vqa_path}: missing; train it first with: python vqa.py --data {args.data} --out {vqa_path}")
        print(f"{vqa_path} is missing: training the VQA loss model on original images first")
        loss_model = vqa.VQA(len(train_data.vocab), len(train_data.answer_names))
        vqa.train(loss_model, train_data, epochs=6, seed=args.seed)
        vqa_path = out / "vqa-loss.pt"
        out.mkdir(parents=True, exist_ok=True)
        files.save_checkpoint(vqa.vqa_checkpoint(loss_model, train_data, data=args.data, seed=args.seed), vqa_path)
    try:
        vqa_models["loss_model"], vqa_ckpt = vqa.load_vqa(vqa_path, device)
        if args.data in judges.PANEL:                # the held-out families, and the attention model of another seed
            panel, panel_vocab = judges.load_panel(args.data)
            if panel_vocab != vqa_ckpt["vocab"]:
                fail(f"the judges in {CKPT} and {vqa_path} were trained on different words")
            vqa_models.update({f"judge_{family}": model.to(device) for family, model in panel.items()})
    except files.CheckpointError as e:
        fail(e)
    vqa_models["loss_model"].requires_grad_(False)   # frozen: a loss, never trained on decodes
    train_data = datasets.load(args.data, "train", vocab=vqa_ckpt["vocab"])
    val_data = datasets.load(args.data, "test", vocab=vqa_ckpt["vocab"])
loss_model = vqa_models.get("loss_model")
val_idx = torch.arange(min(len(val_data), 8 if args.dry_run else 200))
val_x = val_data.images(val_idx).to(device)          # a fixed batch: samples compare over time
val_q = [t.to(device) for t in val_data.questions_of(val_idx)]   # all its questions: qi, tokens, answers
val_family = val_data.family_of(val_idx) if train_data.has_questions else None

# ---- models and optimisers -----------------------------------------------------------------------
codec = Codec(capacity, args.width, args.context, args.code, args.deep).to(device)
disc = Discriminator(len(train_data.vocab) if train_data.has_questions else 2).to(device)
opt_g = torch.optim.Adam(codec.parameters(), lr=args.lr, betas=(0.5, 0.9))
opt_d = torch.optim.Adam(disc.parameters(), lr=args.lr_d, betas=(0.5, 0.9))
step, minutes_done, price = 0, 0.0, 0.0
if args.resume:                                      # `resumed` was read with the flags, at the top
    codec.load_state_dict(resumed["codec"])           # (both copy the tensors to the models' device)
    disc.load_state_dict(resumed["disc"])
    opt_g.load_state_dict(resumed["opt_g"])
    opt_d.load_state_dict(resumed["opt_d"])
    step, minutes_done, price = resumed["step"], resumed["minutes"], resumed.get("price", 0.0)
    torch.manual_seed(args.seed + rank + 1000 * step)  # fresh batches, not a replay of the first ones
elif args.init:                                      # fine-tuning: every tensor that fits, e.g. a grid codec
    try:                                             # under the map code, which adds one output channel
        start_from = files.load_checkpoint(args.init, keys=("codec",), device=device)["codec"]
    except files.CheckpointError as e:
        fail(e)
    with torch.no_grad():
        for key, t in codec.state_dict().items():
            old = start_from.get(key)
            if key.startswith("bit_model") or old is None or old.shape[1:] != t.shape[1:] or len(old) > len(t):
                continue
            t[:len(old)] = old                       # the leading rows: the new ones keep their initial values
raw_codec, raw_disc = codec, disc                    # DDP wraps them; checkpoints hold the raw modules
if ddp:
    codec = DDP(codec)
    disc = DDP(disc, find_unused_parameters=not train_data.has_questions)


@torch.no_grad()
def accuracy(model, x):
    """`model`'s accuracy on every question about the validation batch, shown as images x."""
    acc = metrics.Accuracy(val_data.families)
    acc.add(model(x, val_q[0], val_q[1]), val_q[2], val_family)
    return acc.result()


val_original = {label: accuracy(model, val_x) for label, model in vqa_models.items()}   # the ceilings


@torch.no_grad()
def validate():
    """The fixed validation batch through real files: file bits, PSNR, and each VQA model's retention."""
    raw_codec.eval()
    raw_codec.bit_model.update()                     # the integer table the files are coded with
    encode, decode = metrics.codec_files(raw_codec)
    blobs = encode(val_x)
    x_hat = decode(blobs).to(device)
    raw_codec.train()
    stats = {"bits": sum(8 * len(b) for b in blobs) / len(blobs), "psnr": metrics.psnr(x_hat, val_x)}
    for label, model in vqa_models.items():
        stats[f"retention_{label}"] = metrics.retention(accuracy(model, x_hat), val_original[label])["overall"]
    return stats, x_hat


# ---- the loop ----------------------------------------------------------------------------------
if master:
    out.mkdir(parents=True, exist_ok=True)
    (out / "samples").mkdir(exist_ok=True)
    if not args.resume:
        (out / "metrics.jsonl").unlink(missing_ok=True)  # a new run starts a new log
    print(f"{args.data}: {len(train_data)} images, {args.bits} bits, device {device}, {world} process(es), "
          f"{torch.get_num_threads()} threads; writing {out}/")
start = time.time() - 60 * minutes_done             # a resumed run keeps its clock: budget and LR schedule go on
bar = tqdm(total=args.steps, initial=step, disable=not master, dynamic_ncols=True)
stats, done = {}, step >= args.steps                # --steps 0 with --init: only the table below
while not done:
    # a batch: images, and a random subset of their questions
    idx = torch.randint(len(train_data), (args.batch,))
    x = train_data.images(idx).to(device)
    qi, tokens, _ = train_data.questions_of(idx)
    keep = torch.randperm(len(qi))[: args.questions * args.batch]     # (Q,)
    qi, tokens = qi[keep].to(device), tokens[keep].to(device)

    # the learning rates: constant, then linearly to 0 over the last `decay` of the run
    progress = max(step / args.steps, (time.time() - start) / (60 * args.minutes) if args.minutes else 0)
    for opt, lr in ((opt_g, args.lr), (opt_d, args.lr_d)):
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, max(0.0, 1 - progress) / args.decay)   # past the budget: 0, not < 0

    with autocast:
        out_g = codec(x, soft=step < args.warmup)
    x_hat = out_g["x_hat"].float()

    # (1) Update D: originals are real, decodes (detached: this step must not move the codec) are fake
    if args.w_adv > 0:
        with autocast:
            scores = disc(torch.cat([x, x_hat.detach()]), torch.cat([qi, qi + len(x)]), torch.cat([tokens, tokens]))
        real, fake = scores.float().chunk(2)
        loss_d = d_hinge_loss(real, fake)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

    # (2) Update the codec: distortion, VQA consistency, adversarial, rate
    terms = {"mse": F.mse_loss(x_hat, x) + F.mse_loss(out_g["x_hat_32"].float(), F.avg_pool2d(x, 2))}
    with autocast:
        if loss_model is not None and (args.w_kl or args.w_feat):   # both 0: the no-VQA ablation skips the cost
            x_seen, x_hat_seen = x, x_hat
            if args.jitter:                          # an expectation over small moves and noise, not one net's pixels
                dy, dx = torch.randint(-args.jitter, args.jitter + 1, (2, len(x)), device=device)
                x_seen = datasets.shift(x, dy, dx)
                x_hat_seen = datasets.shift(x_hat, dy, dx) + 0.02 * torch.randn_like(x_hat)
            with torch.no_grad():
                f_real = loss_model.image_features(x_seen)           # (B, 64 cells, C)
                p_real = loss_model.answer(f_real, qi, tokens).float().softmax(1)
            f_fake = loss_model.image_features(x_hat_seen)
            logits = loss_model.answer(f_fake, qi, tokens).float()  # (Q, answers)
            terms["kl"] = F.kl_div(logits.log_softmax(1), p_real, reduction="batchmean")
            terms["feat"] = F.mse_loss(f_fake.float(), f_real.float())
        if args.w_adv > 0:
            raw_disc.requires_grad_(False)           # D is only a critic in this step
            terms["adv"] = g_hinge_loss(raw_disc(x_hat, qi, tokens).float())
            raw_disc.requires_grad_(True)
    terms["rate"] = out_g["rate"].float().mean() / args.bits                  # 1.0: on budget
    loss_g = sum(weights[k] * v for k, v in terms.items()) + price * terms["rate"]
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    if args.code == "map":        # a Lagrange multiplier by gradient ascent: up while over budget, down to 0
        price = max(0.0, price + PRICE_STEP * (terms["rate"].item() - 1))
    step += 1

    # log: one line of running figures on the bar
    logged = {k: f"{v.item():.3f}" for k, v in terms.items()}
    if args.w_adv > 0:
        logged["d"] = f"{loss_d.item():.2f}"
    if args.code == "map":
        logged["price"] = f"{price:.4f}"
    bar.update()
    bar.set_postfix(**logged, **{k: f"{v:.3g}" for k, v in stats.items()})

    # evaluate and checkpoint (the master process only), then stop when it's time
    done = step >= args.steps or (args.minutes and time.time() - start > 60 * args.minutes)
    if master and (step % args.eval_every == 0 or done):
        stats, x_hat_val = validate()
        record = {"step": step, "minutes": (time.time() - start) / 60, **{k: float(v) for k, v in logged.items()}, **stats}
        with open(out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        save_image(torch.cat([val_x[:16], x_hat_val[:16]]), out / "samples" / f"step{step:06d}.png", nrow=16)
        state = codec_checkpoint(raw_codec, data=args.data)
        files.save_checkpoint(state, out / "codec.pt")                 # what compress.py needs
        files.save_checkpoint({**state, "disc": raw_disc.state_dict(), "opt_g": opt_g.state_dict(),
                               "opt_d": opt_d.state_dict(), "step": step, "minutes": record["minutes"], "price": price,
                               "args": vars(args)}, out / "ckpt.pt")
        bar.write(f"step {step}: " + ", ".join(f"{k} {v:.4g}" for k, v in stats.items()))
    if ddp:                                          # every process stops at the same step
        flag = torch.tensor([float(done)], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        done = flag.item() > 0
bar.close()
if master:
    # the coder's table, counted on the codec's own bits for the training images (each image once, or
    # 20,000 random crops of a few photos), with as many bits of context as pay (Codec.fit_table)
    idx = torch.randperm(len(train_data)) if len(train_data) >= 1000 else torch.randint(len(train_data), (20_000,))
    idx = idx[:64] if args.dry_run else idx
    costs = raw_codec.eval().fit_table(train_data.images(part).to(device) for part in idx.split(500))
    files.save_checkpoint(codec_checkpoint(raw_codec, data=args.data), out / "codec.pt")
    print(f"done: {step} steps in {(time.time() - start) / 60:.1f} minutes; {out / 'codec.pt'}, its coder's table "
          f"counted on {len(idx)} training images with {raw_codec.args['context']} bits of context (bits per image "
          "on a held-out tenth, by context: " + ", ".join(f"{k}: {v:.1f}" for k, v in costs.items()) + ")")
    panel = {k[len("judge_"):]: m.cpu() for k, m in vqa_models.items() if k.startswith("judge_")}
    if panel and not args.dry_run:                   # the figure that matters, on the whole test split
        row = metrics.score_codec(raw_codec.cpu().eval(), panel, val_data)
        held_out = metrics.lowest(row["retention"], judges.PANEL[args.data])
        print(f"held-out retention {100 * held_out['overall']:.1f}% (lowest of "
              + ", ".join(f"{f} {100 * row['retention'][f]['overall']:.1f}%" for f in judges.PANEL[args.data])
              + "; per family " + ", ".join(f"{f} {100 * held_out[f]:.1f}%" for f in val_data.families)
              + f"), {row['bits']:.1f} bits per file, PSNR {row['psnr']:.2f} dB; the loss model's family "
              + f"with another seed: {100 * row['retention']['attention']['overall']:.1f}%")
    elif not train_data.has_questions and not args.dry_run:     # photos: the held-out test images, real files
        row = metrics.measure(metrics.codec_files(raw_codec.cpu().eval()), {}, val_data)
        print(f"test images: {row['bits']:.1f} bits per file, PSNR {row['psnr']:.2f} dB, SSIM {row['ssim']:.3f}")
if ddp:
    dist.destroy_process_group()
