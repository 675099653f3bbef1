"""CLEVR in 3D: rendered scenes of spheres, cubes and cylinders, and exact questions about them.

A scene is 3 to 10 objects on a ground plane (render.py draws it), each with a shape, one of 8
colours, a material (rubber or metal) and a size, placed as CLEVR places them (Johnson et al.
2017): no two closer than MIN_GAP, and every pair apart by MARGIN along the camera's left-right
and front-back directions on the ground, so that no spatial relation is a close call. A scene in
which some object shows fewer than MIN_PIXELS pixels (hidden behind another) is drawn again.

The question families, each a small program on the scene graph, so every answer is exact:

    exist               "is there a small metal cube?"                                yes / no
    count               "how many red objects are there?"                             0 … 10
    query               "what material is the large cylinder?"                        an attribute
    compare_attribute   "is the red sphere the same size as the cyan cube?"           yes / no
    compare_integer     "are there fewer cubes than spheres?" (more, fewer, equal)    yes / no
    relate              "what color is the sphere left of the gray cube?"             an attribute

A question names an object only by a description that fits it alone; a relation must leave exactly
one object of the description asked for. As in scenes.py, a greedy balancer picks within each
template the candidate whose answer was used least, so a question alone says little.
Everything is deterministic from (split, seed): one `random.Random` drives the split.
"""
import itertools
import math
import multiprocessing
import random
import re
from contextlib import nullcontext

import numpy as np
import torch
from tqdm import tqdm

from . import render
from .scenes import ask

SHAPES = ("sphere", "cube", "cylinder")
COLORS = tuple(render.COLOURS)
MATERIALS = ("rubber", "metal")
SIZES = ("large", "small")
ATTRS = {"size": SIZES, "color": COLORS, "material": MATERIALS, "shape": SHAPES}   # in phrase order
FAMILIES = ("exist", "count", "query", "compare_attribute", "compare_integer", "relate")
ANSWERS = ["yes", "no"] + [str(n) for n in range(11)] + list(COLORS) + list(SHAPES) + list(MATERIALS) + list(SIZES)
QUOTA = {"exist": 2, "count": 2, "query": 4, "compare_attribute": 2, "compare_integer": 2, "relate": 3}
FILL = ["exist", "count", "compare_integer"] * 3      # make up for a family with too few questions
RELATIONS = ("left of", "right of", "in front of", "behind")
MIN_GAP, MARGIN, EXTENT = 0.25, 0.4, 3.0     # world units; objects stand in [-EXTENT, EXTENT]²
CHUNK = 500                                  # scenes per random stream (and per worker's task)
IMAGE_SIZE = 128                             # pixels per side of the images generated
CELL, GRID = 8, IMAGE_SIZE // 8             # the detectors' and the object code's grid: 16×16 cells of 8 pixels
MIN_PIXELS = 24                              # visible pixels per object at 128×128 (CLEVR: 200 at 480×320)
# the camera's directions on the ground: right, and toward the camera ("in front of")
RIGHT = torch.nn.functional.normalize(render.CAMERA.right[:2], dim=0).tolist()
FRONT = torch.nn.functional.normalize(-render.CAMERA.forward[:2], dim=0).tolist()


def along(a, b, axis):
    """How far object a is from object b along a ground direction (RIGHT or FRONT)."""
    return (a["x"] - b["x"]) * axis[0] + (a["y"] - b["y"]) * axis[1]


def placeable(new, objects):
    """CLEVR's placement rule: a gap to every object, and clear of each along both directions."""
    r = render.SIZES[new["size"]]
    return all(math.hypot(new["x"] - o["x"], new["y"] - o["y"]) - r - render.SIZES[o["size"]] >= MIN_GAP
               and abs(along(new, o, RIGHT)) >= MARGIN and abs(along(new, o, FRONT)) >= MARGIN
               for o in objects)


def cell_of(o, cell=CELL, grid=GRID, place=("u", "v")):
    """The grid cell (column, row) that holds an object's centre, at pixel (o[place[0]], o[place[1]])."""
    return min(int(o[place[0]] / cell), grid - 1), min(int(o[place[1]] / cell), grid - 1)


def sample_scene(rng):
    """3–10 objects placed by `placeable`: {"objects": [{shape, color, material, size, x, y, angle}]}."""
    n = rng.randint(3, 10)
    while True:                                  # restart on a crowded draw
        objects = []
        for _ in range(50 * n):
            new = {"shape": rng.choice(SHAPES), "color": rng.choice(COLORS), "material": rng.choice(MATERIALS),
                   "size": rng.choice(SIZES), "x": round(rng.uniform(-EXTENT, EXTENT), 3),
                   "y": round(rng.uniform(-EXTENT, EXTENT), 3), "angle": round(rng.uniform(0, 2 * math.pi), 3)}
            if placeable(new, objects):
                objects.append(new)
                if len(objects) == n:
                    return {"objects": objects}


def draw(scene, size=IMAGE_SIZE, samples=2):
    """-> image (size, size, 3) uint8, and each object's visible pixels (scaled to 128×128)."""
    objects = [{**o, "colour": o["color"]} for o in scene["objects"]]
    image, ids = render.render(objects, size, samples)
    visible = torch.bincount(ids.flatten() + 1, minlength=len(objects) + 1)[1:] * (128 / size) ** 2
    return (image.permute(1, 2, 0) * 255).round().byte().numpy(), visible.tolist()


# ---- descriptions: (size, color, material, shape), each possibly None -------------------------

DESCS = list(itertools.product(*[(None, *values) for values in ATTRS.values()]))
MASKS = np.array(sorted(itertools.product((0, 1), repeat=4), key=sum), bool)   # what a description names


def values(o):
    """An object's attributes as a tuple in the order of a description."""
    return tuple(o[k] for k in ATTRS)


def table(descs):
    """Descriptions or objects' values -> (N, 4) strings, "" where a description says nothing."""
    return np.array([[v or "" for v in d] for d in descs], dtype="<U8").reshape(-1, len(ATTRS))


def fits(descs, objects):
    """(D, 4) descriptions against (N, 4) objects, both as `table`s -> (D, N): which fit which."""
    return ((descs[:, None] == "") | (descs[:, None] == objects[None])).all(-1)


DESC_TABLE = table(DESCS)


def phrase(desc, plural=False):
    *adjectives, shape = desc
    return " ".join([w for w in adjectives if w] + [(shape or "object") + ("s" if plural else "")])


def unique_descs(objects, i, among=None):
    """Descriptions that fit object i and no other of `among` (default: all), the shortest first."""
    mine = table([values(objects[i])])[0]
    descs = np.where(MASKS, mine, "")                                  # (16, 4): each subset of its values
    alone = fits(descs, table([values(o) for o in (objects if among is None else among)])).sum(1) == 1
    return [tuple(v or None for v in d) for d in descs[alone].tolist()]


def naming(descs, attr):
    """Those of the descriptions that don't name `attr` (a question about it mustn't give it away)."""
    k = list(ATTRS).index(attr)
    return [d for d in descs if d[k] is None]


def related(objects, i, relation):
    """The objects in `relation` to object i (placement keeps every pair MARGIN apart)."""
    axis, sign = {"left of": (RIGHT, -1), "right of": (RIGHT, 1), "in front of": (FRONT, 1), "behind": (FRONT, -1)}[relation]
    return [j for j, o in enumerate(objects) if j != i and sign * along(o, objects[i], axis) > 0]


def vocabulary():
    """Every word a question can use, whatever scenes were drawn."""
    words = "is there a how many are what the object objects more fewer than an equal number of and " \
            "same as color shape material size left right in front behind".split()
    words += [w for values in ATTRS.values() for w in values] + [s + "s" for s in SHAPES]
    return [" ".join(words)]


# ---- question programs: {family: {template: [(text, answer), ...]}} ---------------------------

def pattern(desc):
    return "+".join(k for k, v in zip(ATTRS, desc) if v)


def candidates(scene):
    """Every question the generator may ask about `scene`, with its answer."""
    objs, out = scene["objects"], {f: {} for f in FAMILIES}

    def add(family, key, text, answer):
        out[family].setdefault(key, []).append((text, str(answer)))

    vals = table([values(o) for o in objs])
    for desc, n in zip(DESCS, fits(DESC_TABLE, vals).sum(1).tolist()):
        if any(desc):                            # "is there a object?" is always yes
            add("exist", pattern(desc), f"is there a {phrase(desc)}?", "yes" if n else "no")
        add("count", "number", f"how many {phrase(desc, plural=True)} are there?", n)
    named = [unique_descs(objs, i) for i in range(len(objs))]           # each object's names, shortest first
    without = [{attr: naming(names, attr) for attr in ATTRS} for names in named]
    for i, o in enumerate(objs):
        for attr in ATTRS:
            for desc in without[i][attr][:3]:
                add("query", attr, f"what {attr} is the {phrase(desc)}?", o[attr])
        for j in range(i + 1, len(objs)):
            for attr in ATTRS:
                di, dj = without[i][attr], without[j][attr]
                if di and dj:
                    same = "yes" if o[attr] == objs[j][attr] else "no"
                    add("compare_attribute", attr, f"is the {phrase(di[0])} the same {attr} as the {phrase(dj[0])}?", same)
        if not named[i]:
            continue
        for relation in RELATIONS:               # "what color is the sphere left of the gray cube?"
            group = related(objs, i, relation)
            for j in group:
                names = unique_descs(objs, j, among=[objs[k] for k in group])
                for attr in ATTRS:
                    for desc in naming(names, attr)[:2]:
                        add("relate", attr, f"what {attr} is the {phrase(desc)} {relation} the {phrase(named[i][0])}?",
                            objs[j][attr])
    for attr, choices in ATTRS.items():          # "are there more cubes than spheres?"
        for a, b in itertools.permutations(choices, 2):
            da, db = [tuple(v if k == attr else None for k in ATTRS) for v in (a, b)]
            na, nb = fits(table([da, db]), vals).sum(1).tolist()
            pa, pb = phrase(da, True), phrase(db, True)
            add("compare_integer", "more", f"are there more {pa} than {pb}?", "yes" if na > nb else "no")
            add("compare_integer", "fewer", f"are there fewer {pa} than {pb}?", "yes" if na < nb else "no")
            if a < b:
                add("compare_integer", "equal", f"are there an equal number of {pa} and {pb}?", "yes" if na == nb else "no")
    return out


# ---- what a question is about: the objects each of its two looks should find -----------------

def described(words):
    """A phrase's words ("small red spheres") -> the description as a (1, 4) table."""
    desc = {attr: next((v for v in values if v in words or v + "s" in words), "") for attr, values in ATTRS.items()}
    return table([tuple(desc[attr] or None for attr in ATTRS)])


def referents(text, scene):
    """The objects a question is about, as two lists of indices into scene["objects"] (None where the
    question has no second set): the set counted or asked about, then, for a comparison, the second
    one; for a relation, the anchor, then the object asked about. The templates of `candidates`, read
    backwards, for a model that learns where to look from where the program looks."""
    objs = scene["objects"]
    vals = table([values(o) for o in objs])

    def which(phrase, among=range(len(objs))):
        among = list(among)
        return [among[k] for k in fits(described(phrase.split()), vals[among])[0].nonzero()[0]]
    if m := re.fullmatch(r"what \w+ is the (.+) (left of|right of|in front of|behind) the (.+)\?", text):
        anchor = which(m[3])
        return anchor, which(m[1], related(objs, anchor[0], m[2]))
    for template in (r"is there a (.+)\?", r"how many (.+) are there\?", r"what \w+ is the (.+)\?"):
        if m := re.fullmatch(template, text):
            return which(m[1]), None
    for template in (r"is the (.+) the same \w+ as the (.+)\?", r"are there (?:more|fewer) (.+) than (.+)\?",
                     r"are there an equal number of (.+) and (.+)\?"):
        if m := re.fullmatch(template, text):
            return which(m[1]), which(m[2])
    raise ValueError(f"not a question clevr.py asks: {text!r}")


def generate(n, split="train", seed=0, size=IMAGE_SIZE, progress=False, workers=2):
    """n scenes, deterministic from (split, seed) -> images (n, size, size, 3) uint8, the scene
    graphs (each object with its pixel position u, v and visible pixels), and the questions as
    (image index, text, answer, family) tuples. The scenes come in chunks of CHUNK, each from its
    own random stream, so `workers` processes make the same split as one."""
    jobs = [(split, seed, c, min(CHUNK, n - c * CHUNK), size) for c in range(math.ceil(n / CHUNK))]
    bar = tqdm(total=n, desc=f"rendering the clevr {split} split", unit="scene", disable=None if progress else True)
    parts = []
    with multiprocessing.get_context("spawn").Pool(workers) if workers > 1 and len(jobs) > 1 else nullcontext() as pool:
        for part in (pool.imap(chunk, jobs) if pool else map(chunk, jobs)):
            parts.append(part)
            bar.update(len(part[1]))
    bar.close()
    questions = [(c * CHUNK + i, *q) for c, (_, _, qs) in enumerate(parts) for i, *q in qs]
    return np.concatenate([p[0] for p in parts]), [s for p in parts for s in p[1]], questions


def chunk(job):
    """One chunk of a split: (images, scenes, questions), image indices counted within the chunk."""
    split, seed, c, n, size = job
    torch.set_num_threads(1)                    # one core per worker
    rng = random.Random(f"clevr/{split}/{seed}/{c}")
    used, images, scenes, questions = {}, np.zeros((n, size, size, 3), np.uint8), [], []
    for i in range(n):
        while True:                              # CLEVR's rule: every object shows enough of itself
            scene = sample_scene(rng)
            images[i], visible = draw(scene, size)
            if min(visible) >= MIN_PIXELS:
                break
        for o, seen in zip(scene["objects"], visible):
            r = render.SIZES[o["size"]]
            u, v, _ = render.CAMERA.project(torch.tensor([o["x"], o["y"], r]), size)
            o.update(u=round(u.item(), 2), v=round(v.item(), 2), pixels=round(seen))
        scenes.append(scene)
        questions += [(i, *q) for q in ask(rng, candidates(scene), used, QUOTA, FILL)]
    return images, scenes, questions


if __name__ == "__main__":
    import argparse
    import collections
    import os
    import time

    from PIL import Image
    p = argparse.ArgumentParser(description="Render N scenes of the test split from scratch, time it, print "
                                "the answers per family and draw the first 32 to results/clevr.png.")
    p.add_argument("--scenes", type=int, default=2000)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    start = time.perf_counter()
    images, graphs, questions = generate(args.scenes, "test", workers=args.workers, progress=True)
    seconds = time.perf_counter() - start
    print(f"{len(images)} scenes, {len(questions)} questions in {seconds:.1f} s on {args.workers} processes: "
          f"{20_000 * seconds / len(images) / 60:.1f} minutes for the 20,000 training scenes")
    for family in FAMILIES:
        answers = collections.Counter(a for _, _, a, f in questions if f == family)
        print(f"  {family:18s} {sum(answers.values()):6d} questions, answers: "
              + ", ".join(f"{a} {n}" for a, n in sorted(answers.items())))
    os.makedirs("results", exist_ok=True)
    grid = np.concatenate([np.concatenate(list(images[r * 8:(r + 1) * 8]), 1) for r in range(4)], 0)
    Image.fromarray(grid).save("results/clevr.png")
    print("wrote results/clevr.png (the first 32 test scenes)")
