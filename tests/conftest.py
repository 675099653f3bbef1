"""The suite reads the CLEVR test split's first 500 scenes, not all 2,000.

Scenes come in chunks, each from its own random stream (data/clevr.py), so these are exactly the
benchmark's first 500 test scenes (tests/test_clevr.py checks that a shorter split is a prefix of a
longer one). No test reads past the 300th; a cold cache renders a quarter as many.
"""
from fewbits.data import datasets

datasets.SPLIT_SIZES["clevr"] = {**datasets.SPLIT_SIZES["clevr"], "test": 500}
