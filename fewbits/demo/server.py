"""fewbits demo: a local web page to try the codecs on, served by the standard library.

    fewbits demo                    # http://127.0.0.1:8000/ ; --host 0.0.0.0 to let others in
    serve("127.0.0.1", 0, ready)    # from Python: ready(server) is called once it listens

The page (page.html, no build step, nothing fetched from elsewhere) talks to four JSON endpoints:

    GET  /api/models                      the zoo's codecs, each with its one-line description
    GET  /api/sample?data=easyvqa&i=3     test image i of easyvqa, scenes or photos, with its questions
    POST /api/compress  {model, image: {name, data}, questions}   -> bits, the .bin, both pictures, answers
                        (and quality: a photo codec's rate, one of QUALITIES)
    POST /api/decompress  {bin: {name, data}, questions}          -> the decode of an uploaded .bin

Every request carries all it needs, so two browsers never share a result: no sessions, no state but
the models, which are loaded once and only read after that. `data` fields are base64. An upload is
written only into a temporary folder that is removed when the request ends, and is read there by
the same code as the command line's, so its refusals are the command line's lines. What can't be
used gets HTTP 400 (413 for a body over MAX_UPLOAD) with {"error": one line}.
"""
import base64
import binascii
import io
import json
import tempfile
import threading
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import torch

from .. import data as datasets
from .. import files, vqa, zoo
from ..api import load
from ..coding import FormatError, container

MAX_UPLOAD = 16 << 20     # bytes in one request's body (base64 makes an upload a third larger)
MAX_DRAIN = 1 << 30       # a refused body is read this far, so the browser hears the 413; past it, cut off
SHOWN = 256               # the pictures on the page: the long side, in pixels
PAGE = Path(__file__).with_name("page.html")
LOCK = threading.Lock()   # loading models and data: one request at a time (the caches keep them)
QUALITIES = (1.0, 0.5, 0.25)   # the rates the page offers a photo codec (PhotoCodec.quality)


class DemoError(Exception):
    """A request the demo can't serve; the message is the one line the page shows."""


@lru_cache(maxsize=None)
def codec_named(name, quality=None):
    """A zoo codec by name (never a path: a web page doesn't choose files on the server); a photo
    codec at `quality`, one of QUALITIES, if given. Each rate is its own instance, so that two
    requests at different rates never share a codec whose quality one of them set."""
    if name not in zoo.CODECS:
        raise DemoError(f"{name!r}: not a codec of the zoo")
    if quality is not None and quality not in QUALITIES:
        raise DemoError(f"the rate must be one of {', '.join(map(str, QUALITIES))}, not {quality}")
    if quality is not None and not rates(zoo.MODELS[name]):
        raise DemoError(f"{name} has a fixed rate; a rate is for the photo codecs")
    with LOCK:
        codec = load(name)
    if quality is not None:
        codec.model.quality = quality
    return codec


@lru_cache(maxsize=None)
def judges_of(data):
    """-> ({family: VQA model}, vocab, answer names) of the held-out panel of dataset `data`."""
    with LOCK:
        panel, vocab = vqa.load_panel(data)
        answers = vqa.load_vqa(f"judge-{data}-{vqa.PANEL[data][0]}")[1]["answers"]
    return {family: panel[family] for family in vqa.PANEL[data]}, vocab, answers


@lru_cache(maxsize=None)
def test_split(data):
    vocab = judges_of(data)[1]
    with LOCK:
        return datasets.load(data, "test", vocab=vocab)


def rates(entry):
    """The rates the page offers a zoo codec: QUALITIES for a photo codec, none for the others."""
    return list(QUALITIES) if entry["data"] == "photos-full" else []


def models():
    return [{"name": n, "data": m["data"], "bits": m["bits"], "description": m["description"],
             "qualities": rates(m), "quality": m["quality"]}
            for n, m in zoo.MODELS.items() if m["kind"] == "codec"]


def sample(data, i):
    """Test image i of `data` as an upload would carry it, with its questions and true answers."""
    if data == "photos":
        paths = datasets.photo_paths("test")
        path = paths[i % len(paths)]
        return {"image": {"name": path.name, "data": b64(path.read_bytes())}, "questions": [], "truth": []}
    if data not in vqa.PANEL:
        raise DemoError(f"{data!r}: the samples are easyvqa, scenes or photos")
    test = test_split(data)
    i %= len(test)
    rows = test.rows_of([i])[1].tolist()
    return {"image": {"name": f"{data}-test-{i}.png", "data": b64(files.png_bytes(test.images([i])[0]))},
            "questions": [test.texts[r] for r in rows], "truth": [test.answer_names[test.q_answer[r]] for r in rows]}


def compress(request):
    """{model, image: {name, data}, questions, quality (photo codecs only)} -> what the page shows
    of the image and its decode."""
    quality = request.get("quality")
    codec = codec_named(str(request.get("model", zoo.DEFAULT)), None if quality is None else float(quality))
    name, raw = upload(request.get("image"))
    with tempfile.TemporaryDirectory() as folder:       # the upload lives here only, and only until it's read
        path = Path(folder) / name
        path.write_bytes(raw)
        try:
            img = files.read_image(path)
        except files.FileError as e:
            raise DemoError(str(e).replace(str(path), name)) from None
    if codec.native:                                     # a photo codec: the photo at its own size
        x, blob = None, codec.encode([files.to_tensor(img.convert("RGB"))[None]])[0]
    else:
        x, shape = files.square(img)                     # (3, 64, 64): what the codec and the judges see
        blob = codec.encode(x[None], [shape])[0]         # = codec.compress([img]), without squaring twice
    shown = img.copy()
    shown.thumbnail((SHOWN, SHOWN), resample=3)          # 3: LANCZOS, to the page's size
    reply = shown_decode(codec, blob, request.get("questions"), x)
    return {**reply, "original": data_url(shown), "bin_name": f"{name}.bin"}


def decompress(request):
    """{bin: {name, data}, questions} -> the decode of a .bin file, by the shipped codec that made it."""
    name, blob = upload(request.get("bin"))
    fingerprint = container.fingerprint_of(blob)
    if fingerprint is None:
        raise DemoError(f"{name}: not a fewbits file (no fewbits header)")
    makers = zoo.made_by(fingerprint)
    if not makers:
        raise DemoError(f"{name}: made by a codec that is not in the zoo (fingerprint {fingerprint})")
    wanted = str(request.get("model", ""))
    codec = codec_named(wanted if wanted in makers else makers[0])
    return {**shown_decode(codec, blob, request.get("questions"), None, name), "bin_name": name}


def shown_decode(codec, blob, questions, x=None, name="the file"):
    """The decode of one file at the page's size and at 64 pixels, and the judges' answers about
    it (and about x (3, 64, 64), the original, if given). FormatError -> the command line's line."""
    try:
        payload, shape = codec.parse(blob)
        if codec.native:                                 # straight at the page's size; no questions
            x_hat, big = None, files.to_image(codec.decode([payload], SHOWN)[0])
        else:
            x_hat = codec.decode([payload], 64)[0]       # (3, 64, 64): what the judges read
            big = files.to_image(files.crop_to_shape(codec.decode([payload], SHOWN)[0], shape))   # = decompress
    except FormatError as e:                             # the coder's reasons are per file: e.bad
        raise DemoError(f"{name}: {e.bad[0] if e.bad else e}") from None
    return {"model": codec.name, "description": zoo.MODELS[codec.name]["description"], "bits": 8 * len(blob),
            "bytes": len(blob), "bin": b64(blob), "decode": data_url(big),
            **answers(codec.trained_on, questions or [], x, x_hat)}


@torch.no_grad()
def answers(data, questions, x, x_hat):
    """Each held-out judge's answer to each question, on the original (if any) and on the decode."""
    questions = [str(q) for q in questions][:20]
    if data not in vqa.PANEL or not questions:
        return {"answers": [], "unknown": []}
    judges, vocab, answer_names = judges_of(data)
    tokens = datasets.encode_questions(questions, vocab)                 # (Q, L), 1: a word they never read
    qi = torch.zeros(len(questions), dtype=torch.long)
    said = {}
    for family, judge in judges.items():
        for label, image in (("original", x), ("decode", x_hat)):
            if image is not None:
                said[family, label] = [answer_names[a] for a in judge(image[None], qi, tokens).argmax(1).tolist()]
    rows = [{"question": q, "judges": [{"judge": f, "original": said.get((f, "original"), [None] * len(questions))[n],
                                        "decode": said[f, "decode"][n]} for f in judges]}
            for n, q in enumerate(questions)]
    unknown = sorted({w for q in questions for w in datasets.tokenize(q) if w not in set(vocab)})
    return {"answers": rows, "unknown": unknown}


def upload(field):
    """{name, data (base64)} -> (a plain file name, bytes). DemoError if it isn't one."""
    if not isinstance(field, dict) or not isinstance(field.get("data"), str):
        raise DemoError("no file in the request")
    name = Path(str(field.get("name") or "upload")).name or "upload"
    try:
        return name, base64.b64decode(field["data"].split(",")[-1], validate=True)
    except (binascii.Error, ValueError):
        raise DemoError(f"{name}: the upload is not base64") from None


def b64(raw):
    return base64.b64encode(raw).decode("ascii")


def data_url(img):
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return "data:image/png;base64," + b64(buffer.getvalue())


ROUTES = {("GET", "/api/models"): lambda q, body: models(),
          ("GET", "/api/sample"): lambda q, body: sample(q.get("data", [""])[0], int(q.get("i", ["0"])[0])),
          ("POST", "/api/compress"): lambda q, body: compress(body),
          ("POST", "/api/decompress"): lambda q, body: decompress(body)}


class Handler(BaseHTTPRequestHandler):
    """One request, in its own thread: the page, or an endpoint's JSON."""

    def do_GET(self):
        if urlparse(self.path).path in ("/", "/index.html"):
            return self.reply(200, PAGE.read_bytes(), "text/html; charset=utf-8")
        self.route("GET", None)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_UPLOAD:                          # read and dropped, never kept: then the browser hears why
            left = min(length, MAX_DRAIN)
            while left > 0 and (chunk := self.rfile.read(min(1 << 20, left))):
                left -= len(chunk)
            self.close_connection = True
            return self.json(413, {"error": f"the upload is {length:,} bytes; the limit is {MAX_UPLOAD:,}"})
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self.json(400, {"error": "the request is not JSON"})
        self.route("POST", body if isinstance(body, dict) else {})

    def route(self, method, body):
        url = urlparse(self.path)
        endpoint = ROUTES.get((method, url.path))
        if endpoint is None:
            return self.json(404, {"error": f"no {method} {url.path}"})
        try:
            result = endpoint(parse_qs(url.query), body)
        except (DemoError, FormatError, files.FileError, datasets.DataError) as e:
            return self.json(400, {"error": str(e)})
        except ValueError as e:
            return self.json(400, {"error": f"a parameter is not a number ({e})"})
        self.json(200, result)

    def json(self, status, obj):
        self.reply(status, json.dumps(obj).encode(), "application/json")

    def reply(self, status, body, kind):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):                   # one short line per request, not the default's
        print(f"{self.command} {self.path.split('?')[0]} -> {args[1] if len(args) > 1 else ''}", flush=True)


def start(host="127.0.0.1", port=0):
    """The server, already listening (port 0: a free one), serving in a daemon thread ->
    the server; server.shutdown() stops it. For the benchmark and the tests."""
    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def serve(host="127.0.0.1", port=8000, ready=None):
    """Serve the page until interrupted (or server.shutdown()). ready(server), if given, once it listens."""
    with ThreadingHTTPServer((host, port), Handler) as server:
        if ready is not None:
            ready(server)
        server.serve_forever()
