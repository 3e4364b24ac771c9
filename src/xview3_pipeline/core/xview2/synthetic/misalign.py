"""The small misalignment of a post image against its pre image.

Pixel coordinates are continuous ``(x, y)`` = (column, row) with the origin at the
top-left corner of the top-left pixel, as in the xBD ``features.xy`` polygons; pixel
``(row, col)`` covers ``[col, col + 1) x [row, row + 1)``. The transform from pre to post
coordinates is a rotation and scale about the image centre ``c`` followed by a shift::

    p' = s R(theta) (p - c) + c + t

with ``R`` the rotation by ``theta`` (clockwise on screen, since y points down). The same
transform moves the post image (resampled bilinearly) and the post polygons, so a
polygon keeps covering the pixels of its building.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import affine_transform
from shapely import affinity
from shapely.geometry.base import BaseGeometry


@dataclass(frozen=True)
class Misalignment:
    """Pre-to-post affine transform of one pair.

    Attributes:
        shift_x_px: Shift ``t`` along x (columns), pixels.
        shift_y_px: Shift ``t`` along y (rows), pixels.
        rotation_deg: Rotation ``theta``, degrees (clockwise on screen).
        scale: Scale factor ``s`` (1 is none).
    """

    shift_x_px: float = 0.0
    shift_y_px: float = 0.0
    rotation_deg: float = 0.0
    scale: float = 1.0

    def matrix(self, size: int) -> np.ndarray:
        """The 3 x 3 homogeneous matrix mapping pre ``(x, y, 1)`` to post coordinates.

        Args:
            size: Side of the (square) image, pixels; its centre is ``size / 2``.

        Returns:
            Array of shape ``[3, 3]``.
        """
        theta = math.radians(self.rotation_deg)
        lin = self.scale * np.array(
            [[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]]
        )
        centre = np.full(2, size / 2.0)
        out = np.eye(3)
        out[:2, :2] = lin
        out[:2, 2] = centre - lin @ centre + np.array([self.shift_x_px, self.shift_y_px])
        return out

    def apply_to_geometry(self, geometry: BaseGeometry, size: int) -> BaseGeometry:
        """The geometry moved from pre to post pixel coordinates."""
        m = self.matrix(size)
        return affinity.affine_transform(
            geometry, [m[0, 0], m[0, 1], m[1, 0], m[1, 1], m[0, 2], m[1, 2]]
        )

    def apply_to_image(self, image: np.ndarray) -> np.ndarray:
        """The image resampled into post coordinates (bilinear, edges repeated).

        Args:
            image: Array ``[H, W, C]`` with ``H == W``.

        Returns:
            Float32 array of the same shape: ``out(p') = image(p)`` for ``p' = M p``.
        """
        size = image.shape[0]
        inv = np.linalg.inv(self.matrix(size))
        # Continuous (x, y) = (col + 0.5, row + 0.5); scipy maps output (row, col) indices
        # to input indices, so swap the axes and move the half-pixel.
        swap = np.array([[0.0, 1.0], [1.0, 0.0]])
        lin = swap @ inv[:2, :2] @ swap
        offset = swap @ (inv[:2, :2] @ np.full(2, 0.5) + inv[:2, 2]) - 0.5
        out = np.empty(image.shape, dtype=np.float32)
        for channel in range(image.shape[2]):
            affine_transform(
                image[..., channel].astype(np.float32, copy=False),
                lin,
                offset=offset,
                output=out[..., channel],
                order=1,
                mode="nearest",
            )
        return out


def draw_misalignment(
    rng: np.random.Generator, *, max_shift_px: float, max_rotation_deg: float, max_scale: float
) -> Misalignment:
    """Draw a misalignment uniformly inside the configured bounds."""
    shift = rng.uniform(-max_shift_px, max_shift_px, size=2)
    return Misalignment(
        shift_x_px=round(float(shift[0]), 3),
        shift_y_px=round(float(shift[1]), 3),
        rotation_deg=round(float(rng.uniform(-max_rotation_deg, max_rotation_deg)), 4),
        scale=round(1.0 + float(rng.uniform(-max_scale, max_scale)), 5),
    )


def max_displacement_px(
    size: int, *, max_shift_px: float, max_rotation_deg: float, max_scale: float
) -> float:
    """Upper bound of ``|p' - p|`` over the image for any allowed misalignment.

    ``|t| + |s R - I| r`` with ``r = size / sqrt(2)`` the largest distance to the centre
    and ``|s R - I| <= |s - 1| + 2 s sin(theta / 2)``.
    """
    theta = math.radians(max_rotation_deg)
    s = 1.0 + max_scale
    lin = max_scale + 2.0 * s * math.sin(theta / 2.0)
    return math.sqrt(2.0) * max_shift_px + lin * size / math.sqrt(2.0)
