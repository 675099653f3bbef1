"""fewbits demo: the page to try the codecs on, in a browser (demo/server.py).

    fewbits demo                       # http://127.0.0.1:8000/, this machine only
    fewbits demo --port 8080 --host 0.0.0.0    # others on the network too: think before you do
    fewbits demo --benchmark 20        # seconds per request, as the page sees them, then exit
"""
import argparse
import base64
import io
import json
import statistics
import sys
import time
import urllib.request

from .. import data as datasets
from .. import files, zoo
from ..demo import serve, start


def main(argv=None, prog="fewbits demo"):
    p = argparse.ArgumentParser(prog=prog, description="A local web page: drop an image, see its bits, "
                                "its decode and the judges' answers.")
    p.add_argument("--port", type=int, default=8000, help="default: %(default)s")
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on (default: %(default)s, this machine only)")
    p.add_argument("--benchmark", type=int, metavar="N", help="time N requests of each kind on a free port, print, exit")
    args = p.parse_args(argv)
    if args.benchmark is not None and args.benchmark < 1:
        print(f"error: --benchmark must be at least 1, not {args.benchmark}", file=sys.stderr)
        return 2
    if args.benchmark:
        return benchmark(args.benchmark)
    if not 0 <= args.port <= 65535:
        print(f"error: --port must be in 0…65535, not {args.port}", file=sys.stderr)
        return 2

    def ready(server):
        host, port = server.server_address[:2]
        print(f"fewbits demo: http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
    try:
        serve(args.host, args.port, ready)
    except OSError as e:                                  # the port is taken, or the address isn't ours
        print(f"error: can't listen on {args.host}:{args.port} ({e.strerror})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print()
    return 0


def benchmark(n):
    """The seconds from the upload to the reply, over real HTTP: an easy-VQA test image with its
    questions through easyvqa-256, and a 768×512 photo through the default photo codec."""
    server = start()
    url = "http://%s:%d" % server.server_address[:2]

    def post(path, body):
        request = urllib.request.Request(url + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
        with urllib.request.urlopen(request) as r:
            return json.loads(r.read())
    with urllib.request.urlopen(url + "/api/sample?data=easyvqa&i=0") as r:
        sample = json.loads(r.read())
    photo = files.read_image(datasets.photo_paths("test")[0]).resize((768, 512))
    buffer = io.BytesIO()
    photo.save(buffer, format="PNG")
    jobs = {"easyvqa-256, 64×64, with its questions": {"model": "easyvqa-256", **sample},
            f"{zoo.DEFAULT}, a 768×512 photo": {"model": zoo.DEFAULT, "image": {
                "name": "photo.png", "data": base64.b64encode(buffer.getvalue()).decode()}}}
    for label, body in jobs.items():
        post("/api/compress", body)                      # the models load on the first request
        seconds = []
        for _ in range(n):
            t0 = time.perf_counter()
            post("/api/compress", body)
            seconds.append(time.perf_counter() - t0)
        print(f"{label}: median {statistics.median(seconds):.3f} s, slowest {max(seconds):.3f} s of {n}")
    server.shutdown()
    return 0
