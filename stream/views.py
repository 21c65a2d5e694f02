"""Split a side-by-side multi-view frame into its views (pure functions)."""

from __future__ import annotations

import numpy as np


def split_views(image: np.ndarray, n_views: int = 2, split_x: int | None = None) -> list[np.ndarray]:
    """Return the views of a side-by-side frame, left to right.

    With two views the split is at `split_x` (a detected seam) or the midpoint. An odd width
    leaves the extra column to the right view; views are not resized, so callers that need
    equal shapes crop afterwards.
    """
    if image.ndim not in (2, 3):
        raise ValueError(f"expected an (H, W) or (H, W, C) image, got shape {image.shape}")
    if n_views == 1:
        return [image]
    if n_views != 2:
        raise ValueError(f"n_views must be 1 or 2, got {n_views}")
    width = image.shape[1]
    x = width // 2 if split_x is None else int(split_x)
    if not 0 < x < width:
        raise ValueError(f"split_x={x} lies outside the frame width {width}")
    return [image[:, :x], image[:, x:]]
