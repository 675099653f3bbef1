"""A ray caster for CLEVR-like scenes (Johnson et al. 2017), written from scratch in torch.

    image, ids = render(objects, size=128)     # (3, H, W) in [0, 1]; (H, W) object index, -1 ground
    u, v = CAMERA.project(points)              # where world points land on the image, in pixels

An object is a dict: shape ("sphere", "cube" or "cylinder"), colour (a name in COLOURS), material
("rubber" or "metal"), size ("large" or "small"), x and y on the ground, and angle (radians about
the vertical; it turns a cube). Every object stands on the ground plane z = 0, as in CLEVR:
    sphere    radius r, centre at height r
    cube      half side r / sqrt(2) (CLEVR's: it looks as big as the sphere), turned by `angle`
    cylinder  radius r, height 2 r
with r = SIZES[size].

A pixel on an edge is the mean of samples × samples rays through it, any other pixel its centre
ray's colour (render). A ray's nearest hit, among the objects
and the ground, is shaded with ambient light, a key light that casts shadows (one shadow ray), and
a fill light; Lambert's diffuse term and Blinn-Phong's highlight. Metal has a strong, tight
highlight, a darker diffuse term and one reflection bounce: what the reflected ray hits, lit without
shadows, tinted by the metal's colour. That is enough for metal to read as metal at 64 to 128 pixels.
"""
import math

import torch
import torch.nn.functional as F

SIZES = {"large": 0.7, "small": 0.35}
COLOURS = {"gray": (87, 87, 87), "red": (173, 35, 35), "blue": (42, 75, 215), "green": (29, 105, 20),
           "brown": (129, 74, 25), "purple": (129, 38, 192), "cyan": (41, 208, 208), "yellow": (255, 238, 51)}
GROUND = (0.62, 0.62, 0.60)
SKY = (0.55, 0.56, 0.58)                      # what metal reflects above the horizon (the camera never sees it)
KEY = F.normalize(torch.tensor([-0.6, -0.3, 1.0]), dim=0)     # toward the key light: left, near, above
FILL = F.normalize(torch.tensor([0.8, -0.5, 0.6]), dim=0)
AMBIENT, EPS, FAR = 0.25, 1e-4, 1e4
MATERIALS = {"rubber": {"diffuse": 0.75, "highlight": 0.1, "shine": 8.0, "mirror": 0.0},
             "metal": {"diffuse": 0.35, "highlight": 0.9, "shine": 80.0, "mirror": 0.45}}


class Camera:
    """A pinhole camera at `distance` from the origin, `elevation` degrees above the ground, looking at
    the origin, with `fov` degrees across the image. Image u grows to the right, v downward."""

    def __init__(self, distance=12.5, elevation=30.0, azimuth=-90.0, fov=40.0):
        e, a = math.radians(elevation), math.radians(azimuth)
        self.position = distance * torch.tensor([math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)])
        self.forward = F.normalize(-self.position, dim=0)
        self.right = F.normalize(torch.linalg.cross(self.forward, torch.tensor([0.0, 0.0, 1.0])), dim=0)
        self.up = torch.linalg.cross(self.right, self.forward)
        self.tan = math.tan(math.radians(fov) / 2)

    def rays(self, size, samples):
        """Directions (size·samples, size·samples, 3) through each sub-pixel's centre, normalised."""
        n = size * samples
        s = ((torch.arange(n) + 0.5) / n * 2 - 1) * self.tan        # -tan … tan across the image
        v, u = torch.meshgrid(-s, s, indexing="ij")                  # row 0 is the top
        return F.normalize(self.forward + u[..., None] * self.right + v[..., None] * self.up, dim=-1)

    def project(self, points, size):
        """World points (..., 3) -> pixel coordinates u, v (...), and depth along the view."""
        d = points - self.position
        depth = d @ self.forward
        u = (d @ self.right) / depth / self.tan
        v = (d @ self.up) / depth / self.tan
        return (u + 1) / 2 * size, (1 - v) / 2 * size, depth

    def unproject(self, u, v, size, height):
        """Pixel coordinates u, v (...) -> the world x, y (...) where their rays reach `height`: the
        inverse of project() for a point known to be that high (an object's centre is at r)."""
        s = 2 * torch.stack(torch.broadcast_tensors(torch.as_tensor(u), torch.as_tensor(v)), -1) / size - 1
        d = self.forward + s[..., :1] * self.tan * self.right - s[..., 1:] * self.tan * self.up   # (..., 3)
        t = (torch.as_tensor(height) - self.position[2]) / d[..., 2]
        return self.position[0] + t * d[..., 0], self.position[1] + t * d[..., 1]


CAMERA = Camera()


def hit_sphere(o, d, c, r):
    """Rays o + t d (R, 3) against a sphere: t (R,), FAR where missed, and the normal (R, 3)."""
    oc = o - c
    b = (oc * d).sum(-1)
    disc = b * b - ((oc * oc).sum(-1) - r * r)
    root = disc.clamp(min=0).sqrt()
    t = torch.where(-b - root > EPS, -b - root, -b + root)
    t = torch.where((disc >= 0) & (t > EPS), t, FAR)
    return t, F.normalize(o + t[:, None] * d - c, dim=-1)


def hit_cube(o, d, c, h, angle):
    """Rays against a cube of half side h centred at c, turned by `angle` about the vertical: the
    slab method in the cube's own frame. -> t (R,), normal (R, 3)."""
    cos, sin = math.cos(angle), math.sin(angle)
    turn = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]])   # local -> world
    o_l, d_l = (o - c) @ turn, d @ turn
    d_l = torch.where(d_l.abs() < 1e-9, torch.full_like(d_l, 1e-9), d_l)
    t1, t2 = (-h - o_l) / d_l, (h - o_l) / d_l
    near, axis = torch.minimum(t1, t2).max(-1)                       # the slab entered last
    far = torch.maximum(t1, t2).min(-1).values
    t = torch.where((far >= near) & (near > EPS), near, FAR)
    normal = -F.one_hot(axis, 3).float() * torch.sign(d_l)           # against the ray, on that axis
    return t, normal @ turn.T


def hit_cylinder(o, d, c, r):
    """Rays against an upright cylinder of radius r and height 2r standing at c = (x, y, 0): its
    side and its top (the bottom lies on the ground). -> t (R,), normal (R, 3)."""
    oc = o - c
    a = d[:, 0] ** 2 + d[:, 1] ** 2
    b = oc[:, 0] * d[:, 0] + oc[:, 1] * d[:, 1]
    disc = b * b - a * (oc[:, 0] ** 2 + oc[:, 1] ** 2 - r * r)
    t_side = (-b - disc.clamp(min=0).sqrt()) / a.clamp(min=1e-12)
    z = oc[:, 2] + t_side * d[:, 2]
    t_side = torch.where((disc >= 0) & (t_side > EPS) & (z >= 0) & (z <= 2 * r), t_side, FAR)
    t_top = (2 * r - oc[:, 2]) / torch.where(d[:, 2].abs() < 1e-9, torch.full_like(d[:, 2], 1e-9), d[:, 2])
    p = oc + t_top[:, None] * d
    t_top = torch.where((t_top > EPS) & (p[:, 0] ** 2 + p[:, 1] ** 2 <= r * r), t_top, FAR)
    side = F.normalize(torch.stack([oc[:, 0] + t_side * d[:, 0], oc[:, 1] + t_side * d[:, 1],
                                    torch.zeros_like(t_side)], -1), dim=-1)
    top = torch.tensor([0.0, 0.0, 1.0]).expand_as(side)
    return torch.minimum(t_side, t_top), torch.where((t_top < t_side)[:, None], top, side)


def hit(obj, o, d):
    """Rays against one object (a dict, see the top) -> t (R,), normal (R, 3). The exact test runs
    only on the rays that meet the object's bounding sphere: most rays miss most objects."""
    r = SIZES[obj["size"]]
    if obj["shape"] == "sphere":
        centre, bound = torch.tensor([obj["x"], obj["y"], r]), r
        exact = lambda o, d: hit_sphere(o, d, centre, r)
    elif obj["shape"] == "cube":
        h = r / math.sqrt(2)
        centre, bound = torch.tensor([obj["x"], obj["y"], h]), h * math.sqrt(3)
        exact = lambda o, d: hit_cube(o, d, centre, h, obj["angle"])
    else:
        centre, bound = torch.tensor([obj["x"], obj["y"], r]), r * math.sqrt(2)
        exact = lambda o, d: hit_cylinder(o, d, centre - torch.tensor([0.0, 0.0, r]), r)
    oc = o - centre
    b = (oc * d).sum(-1)
    disc = b * b - ((oc * oc).sum(-1) - bound * bound)
    near = torch.nonzero((disc >= 0) & (disc.clamp(min=0).sqrt() - b > EPS)).squeeze(1)
    t, normal = torch.full_like(b, FAR), torch.zeros_like(o)
    if len(near):
        t[near], normal[near] = exact(o[near], d[near])
    return t, normal


def nearest(objects, o, d):
    """The nearest hit of each ray among the objects and the ground -> t (R,), normal (R, 3),
    index (R,): the object's, or -1 for the ground, or -2 for the sky."""
    t = torch.where(d[:, 2] < -1e-9, -o[:, 2] / d[:, 2].clamp(max=-1e-9), torch.full_like(d[:, 2], FAR))
    normal = torch.tensor([0.0, 0.0, 1.0]).expand(len(o), 3).clone()
    index = torch.where(t < FAR, -1, -2)
    for i, obj in enumerate(objects):
        t_i, n_i = hit(obj, o, d)
        closer = t_i < t
        t, index = torch.where(closer, t_i, t), torch.where(closer, i, index)
        normal = torch.where(closer[:, None], n_i, normal)
    return t, normal, index


def albedo(objects, index):
    """Each hit's colour (R, 3) in [0, 1]: its object's, or the ground's."""
    table = torch.tensor([GROUND] + [COLOURS[obj["colour"]] for obj in objects], dtype=torch.float32)
    table[1:] /= 255
    return table[index.clamp(min=-1) + 1]


def material(objects, index, key):
    """Each hit's material constant `key` (R,); the ground is rubber."""
    table = torch.tensor([MATERIALS["rubber"][key]] + [MATERIALS[obj["material"]][key] for obj in objects])
    return table[index.clamp(min=-1) + 1]


def shade(objects, o, d, t, normal, index, shadows=True):
    """Direct light at each hit (R, 3): ambient, the key light (shadowed unless shadows=False), the
    fill light; diffuse and highlight by material. The sky is a plain grey."""
    p = o + t.clamp(max=100)[:, None] * d
    lit = torch.ones_like(t)
    if shadows:                                   # anything between the point and the key light?
        facing = torch.nonzero(normal @ KEY > 0).squeeze(1)          # (the rest is dark anyway)
        t_block, _, _ = nearest(objects, p[facing] + 1e-3 * normal[facing], KEY.expand(len(facing), 3))
        lit[facing] = (t_block >= FAR).float()
    colour, k_d = albedo(objects, index), material(objects, index, "diffuse")
    k_s, shine = material(objects, index, "highlight"), material(objects, index, "shine")
    out = AMBIENT * colour
    for light, strength, shadow in ((KEY, 0.9, lit), (FILL, 0.35, 1.0)):
        diffuse = (normal @ light).clamp(min=0)
        halfway = F.normalize(light - d, dim=-1)
        highlight = (normal * halfway).sum(-1).clamp(min=0) ** shine
        out = out + (strength * shadow * k_d * diffuse)[:, None] * colour + (strength * shadow * k_s * highlight)[:, None]
    return torch.where((index == -2)[:, None], torch.tensor(SKY).expand_as(out), out)


def trace(objects, o, d):
    """The colour of each ray (R, 3) in [0, 1], and the index of what it hits first."""
    t, normal, index = nearest(objects, o, d)
    colour = shade(objects, o, d, t, normal, index)
    mirror = material(objects, index, "mirror")
    if mirror.any():                              # one bounce off the metal: what it reflects
        m = mirror > 0
        p = o[m] + t[m, None] * d[m]
        r = d[m] - 2 * (d[m] * normal[m]).sum(-1, keepdim=True) * normal[m]
        t_r, n_r, i_r = nearest(objects, p + 1e-3 * normal[m], r)
        seen = shade(objects, p, r, t_r, n_r, i_r, shadows=False)
        tint = albedo(objects, index[m]) * 0.6 + 0.4
        colour[m] = colour[m] + mirror[m, None] * tint * seen
    return colour.clamp(0, 1), index


def render(objects, size=128, samples=2, camera=CAMERA):
    """The scene as (3, size, size) in [0, 1], and its object map (size, size): the index of the
    object the ray through each pixel's centre hits first, or -1 for the ground.

    One ray per pixel first; then samples × samples rays for each pixel on an edge, where the
    object map or the colour changes from a neighbour: the same picture as supersampling every
    pixel, at a fraction of the rays (most pixels are flat ground)."""
    d = camera.rays(size, 1).reshape(-1, 3)
    colour, index = trace(objects, camera.position.expand_as(d), d)
    colour, index = colour.reshape(size, size, 3), index.reshape(size, size)
    if samples > 1:
        edge = torch.zeros(size, size, dtype=torch.bool)
        for first, second in (((slice(0, -1), slice(None)), (slice(1, None), slice(None))),   # rows
                              ((slice(None), slice(0, -1)), (slice(None), slice(1, None)))):  # columns
            step = (index[first] != index[second]) | ((colour[first] - colour[second]).abs().amax(-1) > 0.06)
            edge[first] |= step
            edge[second] |= step
        rows, cols = torch.nonzero(edge, as_tuple=True)
        d = camera.rays(size, samples).reshape(size, samples, size, samples, 3)[rows, :, cols]   # (E, s, s, 3)
        sub, _ = trace(objects, camera.position.expand(d[..., 0].numel(), 3), d.reshape(-1, 3))
        colour[rows, cols] = sub.reshape(len(rows), samples * samples, 3).mean(1)
    return colour.permute(2, 0, 1), index
