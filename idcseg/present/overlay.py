"""A slice of masks drawn over the image they segment: ``idcseg masks --preview`` and
:meth:`idcseg.Masks.preview`.

The figure is made without pyplot (see :mod:`idcseg.present.plot`): a notebook shows it once as a
PNG, and saving it changes no global state. Each segment is filled in its recommended display
colour (else one of a colour-blind-safe palette) at 45 % opacity with its outline drawn solid,
over the image in grey (window from the 1st to the 99th percentile), or over black when there is
no image. Pixels are drawn with their true aspect (row spacing : column spacing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .plot import _figure_class, require_matplotlib

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Okabe–Ito colours, for segments without a recommended display colour.
PALETTE = (
    (230, 159, 0),
    (86, 180, 233),
    (0, 158, 115),
    (240, 228, 66),
    (0, 114, 178),
    (213, 94, 0),
    (204, 121, 167),
)
LEGEND_MAX = 12


def layer_color(color: Sequence[int] | None, index: int) -> tuple[float, float, float]:
    """An RGB colour in 0–1: *color* (0–255) if given, else the palette's *index*-th."""
    rgb = color if color is not None else PALETTE[index % len(PALETTE)]
    return tuple(float(v) / 255 for v in rgb)  # type: ignore[return-value]


def overlay_figure(
    image: np.ndarray | None,
    layers: Sequence[tuple[str, Sequence[int] | None, np.ndarray]],
    *,
    spacing: tuple[float, float] = (1.0, 1.0),
    title: str = "",
) -> Figure:
    """Masks over one image slice.

    Args:
        image: the slice of the segmented image (any numbers), or ``None`` (black).
        layers: ``(label, recommended RGB 0–255 or None, mask)`` per segment; a mask is 0/1 or
            fractions (drawn where > 0, fill opacity following the fraction).
        spacing: (row spacing, column spacing) in mm, for the aspect ratio.
        title: drawn above.
    """
    require_matplotlib()
    shape = image.shape if image is not None else (layers[0][2].shape if layers else (1, 1))
    rows, columns = shape
    height_mm, width_mm = rows * spacing[0], columns * spacing[1]
    scale = 6.0 / max(height_mm, width_mm)
    fig = _figure_class()(
        figsize=(max(3.0, width_mm * scale) + 2.4, max(3.0, height_mm * scale) + 0.6),
        dpi=100,
        layout="constrained",
        facecolor="white",
    )
    ax = fig.add_subplot()
    extent = (0, width_mm, height_mm, 0)
    if image is not None:
        low, high = np.percentile(image, [1, 99])
        if high <= low:
            high = low + 1
        ax.imshow(image, cmap="gray", vmin=low, vmax=high, extent=extent, interpolation="nearest")
    else:
        ax.imshow(np.zeros(shape), cmap="gray", vmin=0, vmax=1, extent=extent)
    handles = []
    from matplotlib.patches import Patch

    for index, (label, color, mask) in enumerate(layers):
        rgb = layer_color(color, index)
        values = np.asarray(mask, dtype=np.float32)
        rgba = np.zeros((*values.shape, 4), dtype=np.float32)
        rgba[..., :3] = rgb
        rgba[..., 3] = np.clip(values, 0, 1) * 0.45
        ax.imshow(rgba, extent=extent, interpolation="nearest")
        if values.max() > 0:
            ys = (np.arange(values.shape[0]) + 0.5) * spacing[0]
            xs = (np.arange(values.shape[1]) + 0.5) * spacing[1]
            ax.contour(xs, ys, values > 0.5 * values.max(), levels=[0.5], colors=[rgb],
                       linewidths=1.2)  # fmt: skip
        if index < LEGEND_MAX:
            handles.append(Patch(facecolor=(*rgb, 0.6), edgecolor=rgb, label=label))
    if len(layers) > LEGEND_MAX:
        handles.append(Patch(alpha=0, label=f"… {len(layers) - LEGEND_MAX} more"))
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8,
                  frameon=False)  # fmt: skip
    ax.set_title(title, fontsize=9, loc="left")
    ax.set_xlabel("mm")
    ax.set_ylabel("mm")
    ax.set_xlim(0, width_mm)
    ax.set_ylim(height_mm, 0)
    return fig
