"""The suite reads shorter splits than the benchmark and training do: the CLEVR test split's first
500 scenes, not 2,000, and the 2D scenes' training split's first 2,000, not 20,000.

They are exactly the first scenes of the long splits: CLEVR's scenes come in chunks, each from its
own random stream (data/clevr.py), and the 2D scenes from one stream, scene after scene
(data/scenes.py). tests/test_clevr.py and tests/test_data.py check that a shorter split is the
start of a longer one. No test reads past the 300th CLEVR test scene, and no test trains for more
than a few steps; a cold cache renders 1,500 CLEVR and 18,000 2D scenes fewer.
"""
from fewbits.data import datasets

datasets.SPLIT_SIZES["clevr"] = {**datasets.SPLIT_SIZES["clevr"], "test": 500}
datasets.SPLIT_SIZES["scenes"] = {**datasets.SPLIT_SIZES["scenes"], "train": 2_000}
