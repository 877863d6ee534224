"""Reference images for a user's own checkpoint: the val images of the dataset it was
trained on when its training recorded one (Ultralytics keeps ``train_args['data']``) and it
is here; otherwise, when parity then finds nothing to compare, advice that names the fix."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..errors import EdgekitError

log = logging.getLogger(__name__)

#: what to do when the reference images hold nothing the model detects
ADVICE = ("the reference images hold nothing this model detects: give --images DIR with "
          "images it detects objects on, or --data DATA.yaml (its val images join the "
          "reference, its train images calibrate INT8)")


def recorded_dataset(model: Any) -> str | None:
    """The dataset YAML a checkpoint's training recorded (``train_args['data']``), or None."""
    args = getattr(model, "args", None)
    data = args.get("data") if isinstance(args, dict) else getattr(args, "data", None)
    return str(data) if data else None


def recorded_reference(model: Any) -> list[Path]:
    """Val images of the dataset ``model`` was trained on, to join the reference; none
    (and a line that says why) when it recorded none or the dataset is not here."""
    from .pipeline import held_out_images

    data = recorded_dataset(model)
    if data is None:
        return []
    if not Path(data).is_file():
        log.info(f"the checkpoint was trained on {data}, which is not here: the reference "
                 "uses the sample images only")
        return []
    try:
        found = held_out_images(data, None)
    except EdgekitError as exc:
        log.info(f"the checkpoint was trained on {data}, whose val images cannot be read "
                 f"here ({exc}): the reference uses the sample images only")
        return []
    if found:
        log.info(f"reference images: the samples and {len(found)} val images of {data}, "
                 "the dataset this checkpoint was trained on")
    return found


def advice(parity_report: dict[str, Any] | None) -> str | None:
    """:data:`ADVICE` when a backend's output compared nothing, else None."""
    from ..parity.report import backend_status

    if parity_report is None:
        return None
    if any(backend_status(r) == "not_compared" for r in parity_report["backends"].values()):
        return ADVICE
    return None
