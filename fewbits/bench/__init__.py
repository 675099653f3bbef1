"""The benchmark: protocol.py measures (typed rows), report.py writes the tables, figures.py the
pictures, baselines.py holds the methods every codec is measured against."""
