"""Pure logic: metrics, query alignment, detection matching, NMS."""

import numpy as np

from edgekit.parity.align import apply, match_rows
from edgekit.parity.detections import Detections, decode, match, nms
from edgekit.parity.metrics import check_tensor
from edgekit.profiles.schema import Tolerance

TOL = Tolerance(min_cosine=0.999, max_rel_l2=1e-2, atol=1e-2, rtol=1e-2, max_violation_frac=0.0)


def test_identical_passes_and_perturbed_fails():
    x = np.random.default_rng(0).standard_normal((4, 64)).astype(np.float32)
    assert check_tensor(x, x, TOL).passed
    y = x.copy()
    y[0, 0] += 10
    c = check_tensor(y, x, TOL)
    assert not c.passed and c.metrics["max_abs"] == np.float32(10)


def test_non_finite_fails_whatever_the_tolerance():
    x = np.ones((8, 8), np.float32)
    y = x.copy()
    y[1, 1] = np.inf
    loose = Tolerance(min_cosine=-1, max_rel_l2=1e9, atol=1e9, rtol=1e9, max_violation_frac=1)
    c = check_tensor(y, x, loose)
    assert not c.passed and c.metrics["inf"] == 1


def test_near_zero_reference_is_degenerate():
    x = np.full((10,), 1e-9, np.float32)
    c = check_tensor(x * 3, x, TOL)
    assert c.status == "degenerate" and c.passed


def test_shape_mismatch_fails():
    assert not check_tensor(np.zeros((2, 3)), np.zeros((3, 2)), TOL).passed


def test_match_rows_recovers_a_permutation_and_flags_new_rows():
    rng = np.random.default_rng(1)
    ref = rng.standard_normal((50, 16))
    perm = rng.permutation(50)
    out = ref[perm] + 1e-6
    p, _ = match_rows(ref, out)
    aligned, valid = apply(out, p, 0)
    assert valid.all() and np.allclose(aligned, ref, atol=1e-5)
    out[:5] = rng.standard_normal((5, 16)) * 10
    p, _ = match_rows(ref, out)
    assert (p < 0).sum() == 5


def test_detection_match_counts_missing_extra_and_shift():
    ref = Detections(np.array([[0, 0, 10, 10], [20, 20, 40, 40]], np.float32),
                     np.array([0.9, 0.8], np.float32), np.array([1, 2]))
    same = match(ref, ref)
    assert (same.matched, same.missing, same.extra) == (2, 0, 0)
    shifted = Detections(ref.boxes + [1, 0, 1, 0], ref.scores, ref.classes)
    assert match(ref, shifted).max_box_shift_px == 1
    other_class = Detections(ref.boxes, ref.scores, np.array([1, 3]))
    m = match(ref, other_class)
    assert (m.matched, m.missing, m.extra) == (1, 1, 1)
    # a borderline detection (score within margin of the threshold) is not counted missing
    edge = Detections(ref.boxes[:1], np.array([0.26], np.float32), ref.classes[:1])
    empty = Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, int))
    assert match(edge, empty, conf=0.25, margin=0.02).missing == 0
    assert match(edge, empty, conf=0.25, margin=0.001).missing == 1


def test_inverted_and_zero_area_boxes_match_themselves_but_not_other_boxes():
    """Untrained heads emit boxes with x2 < x1 or no area (seen on yolo26n at 640): plain
    IoU scores such a box 0 against itself, which reported a missing + extra pair."""
    boxes = np.array([[411.2, 359.3, 435.4, 346.3], [5, 5, 5, 9]], np.float32)
    ref = Detections(boxes, np.array([0.9, 0.8], np.float32), np.array([1, 2]))
    near = Detections(boxes + 0.01, ref.scores, ref.classes)
    m = match(ref, near)
    assert (m.matched, m.missing, m.extra) == (2, 0, 0)
    far = Detections(boxes + [50, 0, 50, 0], ref.scores, ref.classes)
    m = match(ref, far)
    assert (m.matched, m.missing, m.extra) == (0, 2, 2)


def test_nms_and_decode_formats():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    keep = nms(boxes, np.array([0.9, 0.8, 0.7]), 0.5)
    assert keep.tolist() == [0, 2]
    e2e = np.array([[[0, 0, 10, 10, 0.9, 3], [0, 0, 5, 5, 0.1, 1]]], np.float32)
    d = decode(e2e, "yolo_end2end", 64, conf=0.25)[0]
    assert len(d) == 1 and d.classes[0] == 3
    rt = np.array([[[0.5, 0.5, 0.25, 0.25, 0.8, 7]]], np.float32)
    d = decode(rt, "rtdetr", 64, conf=0.25)[0]
    assert np.allclose(d.boxes[0], [24, 24, 40, 40])
