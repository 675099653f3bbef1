"""fewbits train: the command line of train.py, one flag per field of TrainConfig.

--help shows the comment beside each default in TrainConfig, so the defaults and their reasons are
written once, where the training code reads them.
"""
import argparse
import inspect
import re
import sys
from dataclasses import fields

from .. import train as training


def parser(prog="fewbits train"):
    source = inspect.getsource(training.TrainConfig)
    comments = dict(re.findall(r"^    (\w+): \w+ = [^#\n]*# (.*)$", source, re.M))
    p = argparse.ArgumentParser(prog=prog, description=training.__doc__.split("\n")[0], allow_abbrev=False)
    for f in fields(training.TrainConfig):
        if f.type in (bool, "bool"):                      # a flag on by default is turned off with --no-NAME
            kind = dict(action=argparse.BooleanOptionalAction if f.default else "store_true", default=f.default)
        else:
            kind = dict(type=type(f.default), default=f.default)
        p.add_argument(f"--{f.name}", help=comments.get(f.name, "").replace("%", "%%"), **kind)
    return p


def main(argv=None, prog="fewbits train"):
    config = training.TrainConfig(**vars(parser(prog).parse_args(argv)))
    try:
        training.train(config)
    except training.TrainError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
