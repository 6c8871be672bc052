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

    color = np.zeros((rows, columns, 3), dtype=np.float32)  # premultiplied by alpha
    alpha = np.zeros((rows, columns), dtype=np.float32)
    outlines = []
    for index, (label, recommended, mask) in enumerate(layers):
        rgb = layer_color(recommended, index)
        values = np.clip(np.asarray(mask, dtype=np.float32), 0, 1)
        if values.max() > 0:
            a = values * 0.45
            color = color * (1 - a)[..., None] + np.asarray(rgb, np.float32) * a[..., None]
            alpha = alpha + a * (1 - alpha)
            outlines.append((values, rgb))
            if len(handles) < LEGEND_MAX:  # the legend names what this slice shows
                handles.append(Patch(facecolor=(*rgb, 0.6), edgecolor=rgb, label=label))
    rgba = np.zeros((rows, columns, 4), dtype=np.float32)  # all layers, composited once
    shown = alpha > 0
    rgba[shown, :3] = color[shown] / alpha[shown, None]
    rgba[..., 3] = alpha
    ax.imshow(rgba, extent=extent, interpolation="nearest")
    ys = (np.arange(rows) + 0.5) * spacing[0]
    xs = (np.arange(columns) + 0.5) * spacing[1]
    for values, rgb in outlines:
        ax.contour(xs, ys, values >= 0.5 * values.max(), levels=[0.5], colors=[rgb],
                   linewidths=1.2)  # fmt: skip
    if len(outlines) > len(handles):
        handles.append(Patch(alpha=0, label=f"… {len(outlines) - len(handles)} more"))
    if len(layers) > len(outlines):
        handles.append(Patch(alpha=0, label=f"({len(layers) - len(outlines)} not on this slice)"))
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8,
                  frameon=False)  # fmt: skip
    ax.set_title(title, fontsize=9, loc="left")
    ax.set_xlabel("mm")
    ax.set_ylabel("mm")
    ax.set_xlim(0, width_mm)
    ax.set_ylim(height_mm, 0)
    return fig
