"""Model sources, building, attention sites and preprocessing.

``source`` and ``preprocess`` are numpy/stdlib only; ``build`` and ``sites`` import torch
lazily, inside their functions.
"""
