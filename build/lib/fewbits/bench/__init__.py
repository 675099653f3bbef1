"""The benchmark: protocol.py measures (typed rows), report.py writes the tables and pictures,
baselines.py holds the methods every codec is measured against."""
