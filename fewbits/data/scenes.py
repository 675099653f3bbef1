"""Scenes: a procedural, CLEVR-like 2D dataset of shapes and questions about them.

Every image keeps its scene graph (shape, colour, size and position of each object), and every
question is a small program run on that graph, so each answer is exact. The families:

    exist    "is there a large red circle?"                        yes / no
    count    "how many red objects are there?"                     0 … 6
    query    "what color is the large circle?"                     a colour, shape or size
    relate   "what shape is the object closest to the blue circle?"  a colour, shape or size
    compare  "are there more circles than squares?"                yes / no

A question is asked only when it is well posed: the object it names is the only one that fits the
description, and a relation picks out exactly one object with a clear margin. Within each template
(family + what is asked) a greedy balancer picks, among an image's candidate questions, the one whose
answer has been used least so far, so that a model which sees only the question does badly.

Everything is deterministic from (split, seed): one `random.Random` drives the whole split.
"""
import itertools
import random

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

SHAPES = ("circle", "square", "triangle")
COLORS = {"gray": (128, 128, 128), "red": (205, 40, 40), "blue": (40, 75, 215), "green": (35, 155, 55),
          "brown": (125, 75, 30), "purple": (135, 55, 180), "cyan": (40, 195, 205), "yellow": (235, 205, 25)}
SIZES = {"small": 4.5, "large": 8.0}           # radius in pixels of the 64×64 image
RELATIONS = ("left of", "right of", "above", "below", "closest to")
FAMILIES = ("exist", "count", "query", "relate", "compare")
ANSWERS = ["yes", "no"] + [str(n) for n in range(7)] + list(COLORS) + list(SHAPES) + list(SIZES)
QUOTA = {"exist": 2, "count": 2, "query": 3, "relate": 3, "compare": 2}   # questions per image and family
MARGIN = 8.0     # pixels, 1/8 of the image: "left of" needs |dx| > MARGIN for every other object;
                 # "closest to" needs the runner-up this much farther away
EXTENT = 1.25    # a square's corner or a triangle's tip lies within EXTENT × radius of the centre


# ---- scene graphs and pictures -----------------------------------------------------------------

def sample_scene(rng):
    """1–6 non-overlapping objects on a light background: {"background": rgb, "objects": [...]}."""
    n = rng.randint(1, 6)
    while True:                                  # restart on the rare crowded draw
        objects = []
        for _ in range(200):
            size = rng.choice(list(SIZES))
            reach = EXTENT * SIZES[size]
            x, y = rng.uniform(reach + 1, 63 - reach), rng.uniform(reach + 1, 63 - reach)
            if all(np.hypot(x - o["x"], y - o["y"]) > reach + EXTENT * SIZES[o["size"]] + 1.5 for o in objects):
                objects.append({"shape": rng.choice(SHAPES), "color": rng.choice(list(COLORS)),
                                "size": size, "x": round(x, 2), "y": round(y, 2)})
                if len(objects) == n:
                    background = [rng.randint(215, 245) for _ in range(3)]
                    return {"background": background, "objects": objects}


def render(scene, size=64):
    """Draw at twice the size, then average 2×2 blocks: anti-aliased edges. Returns (size, size, 3) uint8."""
    s = 2 * size / 64
    img = Image.new("RGB", (2 * size, 2 * size), tuple(scene["background"]))
    draw = ImageDraw.Draw(img)
    for o in scene["objects"]:
        x, y, r, fill = o["x"] * s, o["y"] * s, SIZES[o["size"]] * s, COLORS[o["color"]]
        if o["shape"] == "circle":
            draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)
        elif o["shape"] == "square":
            h = 0.88 * r
            draw.rectangle([x - h, y - h, x + h, y + h], fill=fill)
        else:                                    # an upward triangle, circumradius 1.2 r
            draw.polygon([(x + 1.2 * r * np.cos(a), y - 1.2 * r * np.sin(a))
                          for a in np.radians([90, 210, 330])], fill=fill)
    return np.asarray(img.resize((size, size), Image.BOX))


# ---- descriptions: (size, color, shape), each possibly None -----------------------------------

DESCS = list(itertools.product((None, *SIZES), (None, *COLORS), (None, *SHAPES)))   # (None,)*3: "objects"


def matches(o, desc):
    return all(want is None or o[key] == want for key, want in zip(("size", "color", "shape"), desc))


def phrase(desc, plural=False):
    size, color, shape = desc
    noun = (shape or "object") + ("s" if plural else "")
    return " ".join(w for w in (size, color, noun) if w)


def unique_descs(objects, i, skip=None):
    """Descriptions that fit object i and no other one, never naming the attribute `skip`."""
    o = objects[i]
    out = []
    for mask in itertools.product((0, 1), repeat=3):
        desc = tuple(o[k] if m and k != skip else None for k, m in zip(("size", "color", "shape"), mask))
        if any(desc) and desc not in out and sum(matches(p, desc) for p in objects) == 1:
            out.append(desc)
    return out


def related(objects, i, relation, margin=MARGIN):
    """The one object in `relation` to object i, or None when that is not well posed (by `margin` px)."""
    ref, others = objects[i], [p for j, p in enumerate(objects) if j != i]
    if not others:
        return None
    if relation == "closest to":
        dist = sorted((np.hypot(p["x"] - ref["x"], p["y"] - ref["y"]), k) for k, p in enumerate(others))
        if len(dist) > 1 and dist[1][0] - dist[0][0] <= margin:
            return None
        return others[dist[0][1]]
    axis, sign = {"left of": ("x", -1), "right of": ("x", 1), "above": ("y", -1), "below": ("y", 1)}[relation]
    offsets = [sign * (p[axis] - ref[axis]) for p in others]
    if any(abs(d) <= margin for d in offsets):
        return None
    hits = [p for p, d in zip(others, offsets) if d > 0]
    return hits[0] if len(hits) == 1 else None


def vocabulary():
    """Every word a question can use, so the vocabulary doesn't depend on which scenes were drawn."""
    words = "is there a how many are what the object objects more than color shape size".split()
    words += list(SIZES) + list(COLORS) + list(SHAPES) + [s + "s" for s in SHAPES] + " ".join(RELATIONS).split()
    return [" ".join(words)]


# ---- question programs: each returns {template: [(text, answer), ...]} ------------------------

def pattern(desc):
    return "+".join(k for k, v in zip(("size", "color", "shape"), desc) if v)


def candidates(scene, margin=MARGIN):
    """Every question the generator may ask about `scene`, with its answer. The relations must hold by
    `margin` pixels: the generator asks only questions whose answer a pixel or two can't change."""
    objs = scene["objects"]
    out = {f: {} for f in FAMILIES}

    def add(family, key, text, answer):
        out[family].setdefault(key, []).append((text, str(answer)))

    for desc in DESCS:
        n = sum(matches(o, desc) for o in objs)
        if any(desc):                            # "is there a object?" is always yes
            add("exist", pattern(desc), f"is there a {phrase(desc)}?", "yes" if n else "no")
        add("count", "number", f"how many {phrase(desc, plural=True)} are there?", n)
    for i, o in enumerate(objs):
        for attr in ("color", "shape", "size"):
            for desc in unique_descs(objs, i, skip=attr):
                add("query", attr, f"what {attr} is the {phrase(desc)}?", o[attr])
        for relation in RELATIONS:
            target = related(objs, i, relation, margin)
            if target is None:
                continue
            for desc in unique_descs(objs, i):
                for attr in ("color", "shape", "size"):
                    add("relate", attr, f"what {attr} is the object {relation} the {phrase(desc)}?", target[attr])
    for attr, values in (("shape", SHAPES), ("color", list(COLORS)), ("size", list(SIZES))):
        for a, b in itertools.permutations(values, 2):
            da, db = [tuple(v if k == attr else None for k in ("size", "color", "shape")) for v in (a, b)]
            more = sum(matches(o, da) for o in objs) > sum(matches(o, db) for o in objs)
            add("compare", attr, f"are there more {phrase(da, True)} than {phrase(db, True)}?", "yes" if more else "no")
    return out


def generate(n, split="train", seed=0, progress=False):
    """n scenes with their images and questions, deterministic from (split, seed).

    Returns images (n, 64, 64, 3) uint8, the scene graphs, and questions as
    (image index, text, answer, family) tuples: sum(QUOTA.values()) = 12 per image. When a family
    has too few well-posed questions in a scene, exist, count and compare fill in (they always can).
    """
    rng = random.Random(f"scenes/{split}/{seed}")
    used = {}                                   # (family, template, answer) -> times asked so far
    images, scenes, questions = np.zeros((n, 64, 64, 3), np.uint8), [], []
    for i in tqdm(range(n), desc=f"generating the scenes {split} split", unit="scene", disable=None if progress else True):
        scene = sample_scene(rng)
        images[i] = render(scene)
        scenes.append(scene)
        questions += [(i, *q) for q in ask(rng, candidates(scene), used, QUOTA, ["exist", "count", "compare"] * 2)]
    return images, scenes, questions


def ask(rng, cands, used, quota, fill):
    """sum(quota) questions about one scene: [(text, answer, family)]. For each family in turn, as
    many as `quota` says, a template drawn at random and, of its candidates not yet asked, the one
    whose answer `used` ({(family, template, answer): times asked so far}, updated here) has seen
    least. The families of `fill` then make up for a family with too few candidates."""
    asked, chosen = set(), []
    for family in [f for f, k in quota.items() for _ in range(k)] + fill:
        if len(chosen) >= sum(quota.values()):
            break
        keys = [k for k, c in cands[family].items() if any(t not in asked for t, _ in c)]
        if not keys:
            continue
        key = rng.choice(sorted(keys))
        options = [(t, a) for t, a in cands[family][key] if t not in asked]
        rng.shuffle(options)
        text, answer = min(options, key=lambda ta: used.get((family, key, ta[1]), 0))
        used[(family, key, answer)] = used.get((family, key, answer), 0) + 1
        asked.add(text)
        chosen.append((text, answer, family))
    return chosen


if __name__ == "__main__":
    import argparse
    import collections
    import os
    import time
    argparse.ArgumentParser(description="Generate the scenes test split from scratch, time it, print its "
                            "answer counts and draw its first 32 images to results/scenes.png.").parse_args()
    start = time.perf_counter()
    images, graphs, questions = generate(2000, "test")
    seconds = time.perf_counter() - start
    print(f"test split: {len(images)} images, {len(questions)} questions in {seconds:.1f} s (one process)")
    for family in FAMILIES:
        answers = collections.Counter(a for _, _, a, f in questions if f == family)
        print(f"  {family:8s} {sum(answers.values()):5d} questions, answers: " + ", ".join(f"{a} {n}" for a, n in sorted(answers.items())))
    for i, text, answer, _ in questions[:12]:
        print(f"  image {i}: {text} {answer}")
    os.makedirs("results", exist_ok=True)
    grid = np.concatenate([np.concatenate(list(images[r * 8:(r + 1) * 8]), 1) for r in range(4)], 0)
    Image.fromarray(grid).resize((grid.shape[1] * 2, grid.shape[0] * 2), Image.NEAREST).save("results/scenes.png")
    print("wrote results/scenes.png (the first 32 test images)")
