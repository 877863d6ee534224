"""Trained checkpoints without a download: a seeded synthetic detection dataset
(:mod:`edgekit.zoo.synth`) and a deterministic, cached training recipe
(:mod:`edgekit.zoo.train`). Heavy modules (cv2, torch, ultralytics) are imported lazily."""
