"""Train the codec: encoder, binarizer, decoder (the GAN generator) and bit model, in one loop.

    fewbits train --bits 256                                  # easy-VQA, 20 minutes on 2 CPU cores
    fewbits train --bits 256 --steps 18000 --minutes 0        # easyvqa-256 as shipped: all 18,000 steps
    fewbits train --data scenes --bits 256 --code grid
    fewbits train --data scenes --bits 120 --code map         # 120 bits on average, up to 256
    fewbits train --bits 256 --w_kl 0 --w_feat 0              # the ablation without the VQA terms
    fewbits train --data photos --code grid                   # Debian's photos, no questions: MSE + GAN + rate
    torchrun --nproc_per_node=2 -m fewbits train --bits 256   # DistributedDataParallel

    from fewbits.train import TrainConfig, train
    train(TrainConfig(bits=64, steps=100, out="runs/try"))    # the same, from Python

Each step has two updates, as in PyTorch's DCGAN example:
  (1) D on (original, question) versus (decoded.detach(), question), hinge loss;
  (2) encoder + decoder + bit model on MSE distortion, VQA consistency (a frozen VQA model's answers
      and cell features on the decoded image versus the original), the adversarial loss and the rate.
The object code (codec/objects.py) learns from the scene graphs instead: its decoder, the ray
caster, has no weights, so it sends no decodes in training, and its step is that loss and the rate.
The rate is the expected code length (nn/quantize.py), so it reaches the encoder. With the map code
the length varies from image to image: --bits is then the budget for the mean over the training
data, and the price of a bit rises while the running rate is over the budget. The learning rates
are constant, then fall linearly to 0 over the last 30% of the run, counted in steps or in minutes,
whichever is further along. Every validation, and the choice of what to ship, uses the validation
split carved from the training data; the test split is the benchmark's alone. VQA models of other
families (vqa/judges.py), which the codec never sees, judge the decodes there.
"""
import json
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
from torchvision.utils import save_image
from tqdm import tqdm

from . import data as datasets
from . import files, metrics, validation, vqa
from .codec import CODECS, codec_checkpoint
from .nn.discriminator import DISCRIMINATORS, d_hinge_loss, g_hinge_loss


@dataclass
class TrainConfig:
    data: str = "easyvqa"     # easyvqa | scenes | photos | photos-full (at their own size: --code photo) | a folder of images
    bits: int = 256           # bits per image before entropy coding (the map code: the mean)
    width: int = 16           # encoder / decoder channels
    deep: int = 0             # channels of the 4×4 features (0: 4 × width); 256 for photos at WebP's bits
    context: int = 2          # the rate term's bit model: each bit given this many before it (the coder's is counted at the end)
    code: str = "global"      # global | grid | map | objects[-fine]-cast | photo: the codec variant (codec/variants.py); grid for scenes, objects-cast for CLEVR
    steps: int = 7500         # stop here or at --minutes, whichever comes first
    batch: int = 32           # images per step
    questions: int = 4        # a step trains on batch × this many of the batch's questions, drawn at random
    flips: bool = True        # each training image mirrored left-right half the time (easy-VQA only: elsewhere "left of" would change)
    lr: float = 1e-3          # encoder, decoder, bit model
    lr_d: float = 4e-4        # discriminator
    w_mse: float = 5.0        # distortion at the images' size and half that (MSE: L1 learned the empty background first, far slower)
    w_edge: float = 1.0       # L1 between the decode's and the original's neighbour differences: edges and corners
    w_ssim: float = 0.0       # 1 - MS-SSIM over four scales (photo crops of 128 pixels and up): structure over colour error
    w_kl: float = 0.1         # VQA answers: KL(answers on original || answers on decode)
    w_feat: float = 0.1       # VQA cell features: MSE
    w_adv: float = 0.0025     # generator's hinge loss (0.005 and 0.02 kept fewer answers and looked less real on easy-VQA)
    disc: str = "both"        # whole | both: D scores the whole image, or it and each 22×22 patch (nn/discriminator.py)
    w_rate: float = 0.01      # bits per image (as a fraction of --bits): fits the bit model, and asks for cheap bits
    warmup: int = 300         # first steps without the binarizer: the decoder learns to read the code before the noise
    decay: float = 0.3        # learning rates fall linearly to 0 over this last fraction of the run (steps or minutes)
    eval_every: int = 250     # steps between validations, sample pictures and checkpoints
    out: str = ""             # default runs/DATA-BITS
    vqa: str = ""             # frozen VQA loss model, a zoo name or a path; default vqa-DATA-loss
    seed: int = 0             # torch's seed: the batches, the initial weights, the binarizer's noise
    device: str = "auto"      # auto | cpu | cuda | mps
    minutes: float = 20.0     # stop cleanly after this wall-clock budget (0: no budget)
    init: str = ""            # start from this codec's weights where they fit (the bit model starts afresh)
    resume: bool = False      # continue OUT/ckpt.pt with its step, optimiser state and flags (--steps, --minutes may change)
    dry_run: bool = False     # one small batch, for tests


class TrainError(Exception):
    """A configuration or a file that training can't use; the message is one line."""


ADJUSTABLE = {"steps", "minutes", "eval_every", "device", "out", "resume", "dry_run"}   # may change on --resume
BUDGET = {"steps", "minutes", "eval_every"}    # of those, the run's own unless given again
PRICE_STEP = 1e-3   # the map code: how fast the price of a bit follows the rate's excess over --bits
VAL_BATCH = 200     # the fixed validation batch: its figures every eval_every steps, and its pictures


def out_dir(config):
    name = Path(config.data).name if config.data not in ("easyvqa", "scenes") else config.data
    return Path(config.out or f"runs/{name}-{config.bits}")


def resumed(config):
    """The run in OUT/ckpt.pt: its checkpoint, and its configuration with this one's ADJUSTABLE fields
    (of the BUDGET, only those set away from their defaults: a resume without --minutes keeps the
    run's). Any other field this config sets that contradicts the run is refused."""
    out = out_dir(config)
    try:
        ckpt = files.load_checkpoint(out / "ckpt.pt", keys=("config", "codec", "disc", "opt_g", "opt_d", "step", "minutes"))
    except files.CheckpointError as e:
        raise TrainError(f"{e}: nothing to resume") from None
    default, merged = TrainConfig(), {}
    for f in fields(TrainConfig):
        mine, theirs = getattr(config, f.name), ckpt["config"].get(f.name, getattr(default, f.name))
        if f.name not in ADJUSTABLE and mine != getattr(default, f.name) and mine != theirs:
            raise TrainError(f"--{f.name} {mine} contradicts the run in {out} ({f.name} {theirs}); "
                             f"leave it out to continue that run, or give a new --out")
        kept = f.name not in ADJUSTABLE or (f.name in BUDGET and mine == getattr(default, f.name))
        merged[f.name] = theirs if kept else mine
    return TrainConfig(**{**merged, "out": str(out)}), ckpt


def devices(config):
    """-> (device, rank, world): this process's device, and its place among the DDP processes."""
    name = config.device
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise TrainError(f"--device {name}: not a device name (auto, cpu, cuda, cuda:1, mps)") from None
    if (device.type == "cuda" and not torch.cuda.is_available()) or (device.type == "mps" and not torch.backends.mps.is_available()):
        raise TrainError(f"--device {name}: this machine has no {device.type.upper()} device; use --device cpu, or auto")
    if "RANK" not in os.environ:
        return device, 0, 1
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        device = torch.device(f"cuda:{int(os.environ['LOCAL_RANK'])}")
        torch.cuda.set_device(device)
    return device, dist.get_rank(), dist.get_world_size()


def datasets_and_judges(config, device):
    """-> (train split, validation split, {label: VQA model}): "loss_model" (in the loss, frozen),
    then "judge_FAMILY" for the held-out panel, which only ever scores decodes."""
    try:
        train_data = datasets.load(config.data, "train")
        if not train_data.has_questions:
            return train_data, datasets.load(config.data, "val"), {}
        loss_model, ckpt = vqa.load_vqa(config.vqa or f"vqa-{config.data}-loss", device)
        models = {"loss_model": loss_model.requires_grad_(False)}       # frozen: never trained on decodes
        if config.data in vqa.PANEL:
            panel, vocab = vqa.load_panel(config.data)
            if vocab != ckpt["vocab"]:
                raise TrainError(f"the judges and {config.vqa or 'the loss model'} were trained on different words")
            models.update({f"judge_{family}": model.to(device) for family, model in panel.items()})
        vocab = ckpt["vocab"]
        return datasets.load(config.data, "train", vocab), datasets.load(config.data, "val", vocab), models
    except (datasets.DataError, files.FileError) as e:
        raise TrainError(str(e)) from None


def initialise(codec, path, device):
    """Fine-tuning: copy every tensor of the codec at `path` that fits, e.g. a grid codec's into a map
    codec, which adds one output channel; the new rows keep their initial values. Not the bit model."""
    try:
        start_from = files.load_checkpoint(path, keys=("codec",), device=device)["codec"]
    except files.CheckpointError as e:
        raise TrainError(str(e)) from None
    if hasattr(codec, "adopt"):                               # a codec that knows how to grow
        start_from = codec.adopt(start_from)
    with torch.no_grad():
        for key, t in codec.state_dict().items():
            old = start_from.get(key)
            if key.startswith("bit_model") or old is None or old.shape[1:] != t.shape[1:]:
                continue
            if old.dim() == 0:                                # a count or a threshold
                t.copy_(old)
            elif len(old) <= len(t):
                t[:len(old)] = old


def checkpoint(out, codec, disc, opt_g, opt_d, step, minutes, price, config):
    """codec.pt, what the command line needs, and ckpt.pt, what --resume needs; both atomically."""
    state = codec_checkpoint(codec, data=config.data)
    files.save_checkpoint(state, out / "codec.pt")
    files.save_checkpoint({**state, "disc": disc.state_dict(), "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
                           "step": step, "minutes": minutes, "price": price, "config": asdict(config)}, out / "ckpt.pt")


def image_terms(config, x, x_hat, x_hat_half, qi, tokens, loss_model, disc, autocast):
    """The codec's terms on its decodes: distortion, VQA consistency on the frozen loss model's answers
    and cell features, and the generator's hinge loss against disc (None: no GAN term)."""
    terms = {"mse": F.mse_loss(x_hat, x) + F.mse_loss(x_hat_half, F.avg_pool2d(x, 2))}
    if config.w_edge:
        terms["edge"] = metrics.edge_loss(x_hat, x)
    if config.w_ssim:
        terms["ssim"] = metrics.ms_ssim_loss(x_hat, x)
    with autocast:
        if loss_model is not None and (config.w_kl or config.w_feat):   # all 0: no VQA
            with torch.no_grad():
                f_real = loss_model.image_features(x)           # (B, 64 cells, C)
                p_real = loss_model.answer(f_real, qi, tokens).float().softmax(1)
            f_fake = loss_model.image_features(x_hat)
            logits = loss_model.answer(f_fake, qi, tokens).float()  # (Q, answers)
            terms["kl"] = F.kl_div(logits.log_softmax(1), p_real, reduction="batchmean")
            terms["feat"] = F.mse_loss(f_fake.float(), f_real.float())
        if disc is not None:
            disc.requires_grad_(False)                  # D is only a critic in this step
            terms["adv"] = g_hinge_loss(disc(x_hat, qi, tokens).float())
            disc.requires_grad_(True)
    return terms


def train(config):
    """Train a codec as `config` says; write OUT/codec.pt, OUT/ckpt.pt, OUT/metrics.jsonl and
    OUT/samples/. -> the final validation figures. TrainError, one line, for what can't be used."""
    if config.resume:
        config, resume_from = resumed(config)
    elif config.dry_run:
        config = TrainConfig(**{**asdict(config), "steps": 1, "batch": 4, "eval_every": 1})
    out = out_dir(config)
    try:
        kind = CODECS[config.code]
        size = {} if getattr(kind, "native", False) else {"size": datasets.image_size(config.data)}   # 64 or 128
        codec = kind(config.bits, config.width, config.context, config.deep, **size)
    except (KeyError, ValueError) as e:                    # before any data is loaded: --bits 100, --code foo
        raise TrainError(f"--code must be one of {', '.join(CODECS)}" if isinstance(e, KeyError) else str(e)) from None
    if config.disc not in DISCRIMINATORS:
        raise TrainError(f"--disc must be one of {', '.join(DISCRIMINATORS)}")
    device, rank, world = devices(config)
    master, ddp = rank == 0, world > 1
    torch.manual_seed(config.seed + rank)                  # each process draws its own batches
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    train_data, val_data, vqa_models = datasets_and_judges(config, device)
    loss_model = vqa_models.get("loss_model")
    val_idx = torch.arange(min(len(val_data), 8 if config.dry_run else VAL_BATCH))   # fixed: samples compare over time
    val_original = validation.score_originals(val_data, vqa_models, val_idx, device)

    # ---- models and optimisers ------------------------------------------------------------------
    codec = codec.to(device)
    disc = DISCRIMINATORS[config.disc](len(train_data.vocab) if train_data.has_questions else 2).to(device)
    opt_g = torch.optim.Adam(codec.parameters(), lr=config.lr, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(disc.parameters(), lr=config.lr_d, betas=(0.5, 0.9))
    step, minutes_done, price = 0, 0.0, 0.0
    if config.resume:
        for module, key in ((codec, "codec"), (disc, "disc"), (opt_g, "opt_g"), (opt_d, "opt_d")):
            module.load_state_dict(resume_from[key])      # (copies the tensors to the models' device)
        step, minutes_done, price = resume_from["step"], resume_from["minutes"], resume_from["price"]
        torch.manual_seed(config.seed + rank + 1000 * step)   # fresh batches, not a replay of the first ones
    elif config.init:
        initialise(codec, config.init, device)
    raw_codec, raw_disc = codec, disc                      # DDP wraps them; checkpoints hold the raw modules
    if ddp:
        codec = DDP(codec)
        disc = DDP(disc, find_unused_parameters=not train_data.has_questions)
    weights = {"mse": config.w_mse, "edge": config.w_edge, "ssim": config.w_ssim, "kl": config.w_kl, "feat": config.w_feat, "adv": config.w_adv, "rate": config.w_rate, "objects": 1.0}

    # ---- the loop -------------------------------------------------------------------------------
    if master:
        (out / "samples").mkdir(parents=True, exist_ok=True)
        if not config.resume:
            (out / "metrics.jsonl").unlink(missing_ok=True)  # a new run starts a new log
        print(f"{config.data}: {len(train_data)} images, {config.bits} bits, device {device}, {world} process(es), "
              f"{torch.get_num_threads()} threads; writing {out}/")
    start = time.time() - 60 * minutes_done               # a resumed run keeps its clock: budget and LR schedule go on
    bar = tqdm(total=config.steps, initial=step, disable=None if master else True, dynamic_ncols=True)  # quiet in a log
    stats, done = {}, step >= config.steps                # --steps 0 with --init: only the table below
    while not done:
        # a batch: images, and a random subset of their questions
        idx = torch.randint(len(train_data), (config.batch,))
        x = train_data.images(idx).to(device)
        x = datasets.mirror(x) if config.flips and config.data in datasets.FLIPPABLE else x     # (B, 3, 64, 64)
        qi, tokens, _ = train_data.questions_of(idx)
        keep = torch.randperm(len(qi))[: config.questions * config.batch]     # (Q,)
        qi, tokens = qi[keep].to(device), tokens[keep].to(device)

        # the learning rates: constant, then linearly to 0 over the last `decay` of the run
        progress = max(step / config.steps, (time.time() - start) / (60 * config.minutes) if config.minutes else 0)
        for opt, lr in ((opt_g, config.lr), (opt_d, config.lr_d)):
            for group in opt.param_groups:
                group["lr"] = lr * min(1.0, max(0.0, 1 - progress) / config.decay)   # past the budget: 0, not < 0

        with autocast:
            out_g = codec(x, soft=step < config.warmup)
        x_hat = out_g["x_hat"].float() if "x_hat" in out_g else None    # None: no decodes to learn from (codec/objects.py)
        adversarial = config.w_adv > 0 and x_hat is not None

        # (1) Update D: originals are real, decodes (detached: this step must not move the codec) are fake
        if adversarial:
            with autocast:
                scores = disc(torch.cat([x, x_hat.detach()]), torch.cat([qi, qi + len(x)]), torch.cat([tokens, tokens]))
            real, fake = scores.float().chunk(2)
            loss_d = d_hinge_loss(real, fake)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()

        # (2) Update the codec: distortion, VQA consistency, adversarial, rate
        terms = {} if x_hat is None else image_terms(config, x, x_hat, out_g["x_hat_half"].float(), qi, tokens,
                                                     loss_model, raw_disc if adversarial else None, autocast)
        if "logits" in out_g:         # the object code: its encoder learns from the scene graphs (codec/objects.py)
            terms["objects"] = raw_codec.label_loss(out_g["logits"].float(), [train_data.scenes[i] for i in idx.tolist()])
        terms["rate"] = out_g["rate"].float().mean() / config.bits                 # 1.0: on budget
        loss_g = sum(weights[k] * v for k, v in terms.items()) + price * terms["rate"]
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        if raw_codec.priced:          # a Lagrange multiplier by gradient ascent: up while over budget, down to 0
            price = max(0.0, price + PRICE_STEP * (terms["rate"].item() - 1))
        step += 1

        # log: one line of running figures on the bar
        logged = {k: f"{v.item():.3f}" for k, v in terms.items()}
        if adversarial:
            logged["d"] = f"{loss_d.item():.2f}"
        if raw_codec.priced:
            logged["price"] = f"{price:.4f}"
        bar.update()
        bar.set_postfix(**logged, **{k: f"{v:.3g}" for k, v in stats.items()})

        # validate and checkpoint (the master process only), then stop when it's time
        done = step >= config.steps or (config.minutes and time.time() - start > 60 * config.minutes)
        if master and (step % config.eval_every == 0 or done):
            raw_codec.update_table()                      # the integer table the files are coded with
            stats, x_hat_val = validation.validate(raw_codec, val_data, vqa_models, val_idx, val_original, device)
            minutes = (time.time() - start) / 60
            with open(out / "metrics.jsonl", "a") as f:
                f.write(json.dumps({"step": step, "minutes": minutes, **{k: float(v) for k, v in logged.items()}, **stats}) + "\n")
            save_image(torch.cat([val_data.images(val_idx[:16]).to(device), x_hat_val[:16]]),
                       out / "samples" / f"step{step:06d}.png", nrow=16)
            checkpoint(out, raw_codec, raw_disc, opt_g, opt_d, step, minutes, price, config)
            bar.write(f"step {step}: " + ", ".join(f"{k} {v:.4g}" for k, v in stats.items()))
        if ddp:                                          # every process stops at the same step
            flag = torch.tensor([float(done)], device=device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            done = flag.item() > 0
    bar.close()
    final = validation.finish(raw_codec, config, train_data, val_data, vqa_models, device, out, step,
                              (time.time() - start) / 60) if master else None
    if ddp:
        dist.destroy_process_group()
    return final
