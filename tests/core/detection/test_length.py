"""Image length measurement around detections (core/detection/length.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.ndimage import gaussian_filter

from xview3_pipeline.core.detection.bands import ArrayBands
from xview3_pipeline.core.detection.length import LengthConfig, measure_lengths, refine_lengths

#: Ships of the synthetic scene: (row, col, length px, heading deg).
SHIPS = [(60, 60, 4.0, 0.0), (60, 180, 8.0, 30.0), (180, 60, 15.0, 75.0), (180, 180, 25.0, 120.0)]


def _lines(shape: tuple[int, int]) -> np.ndarray:
    """The :data:`SHIPS` as line segments of unit weight per pixel of length."""
    target = np.zeros(shape)
    for row, col, length, heading in SHIPS:
        t = np.linspace(-0.5, 0.5, int(length * 8))
        rr = row + t * length * np.cos(np.radians(heading))
        cc = col + t * length * np.sin(np.radians(heading))
        np.add.at(target, (np.round(rr).astype(int), np.round(cc).astype(int)), 1.0 / 8)
    return target


def _scene(seed: int = 0, clutter_db: float = -22.0, peak_db: float = 25.0) -> np.ndarray:
    """``(2, 240, 240)`` [VH, VV] dB: Gamma speckle plus blurred line targets."""
    rng = np.random.default_rng(seed)
    shape = (240, 240)
    target = gaussian_filter(_lines(shape), 0.6)
    target *= 10 ** (peak_db / 10) / target.max()
    clutter = 10 ** (clutter_db / 10)
    power = (clutter + target * clutter) * rng.gamma(4.4, 1 / 4.4, shape)
    vh = 10 * np.log10(power)
    return np.stack([vh, vh + 6.0]).astype(np.float32)


def test_lengths_of_line_targets_are_measured_within_a_fifth():
    bands = ArrayBands(_scene())
    rows = np.array([s[0] for s in SHIPS])
    cols = np.array([s[1] for s in SHIPS])
    measured = measure_lengths(bands, rows, cols)
    truth = np.array([s[2] for s in SHIPS]) * 10.0
    assert np.all(np.isfinite(measured))
    # The shortest (40 m) is blurred into a blob of about the point spread.
    np.testing.assert_allclose(measured[1:], truth[1:], rtol=0.2)
    assert measured[0] < measured[1] < measured[2] < measured[3]


def test_the_measurement_does_not_move_with_a_calibration_offset():
    scene = _scene()
    rows = np.array([s[0] for s in SHIPS])
    cols = np.array([s[1] for s in SHIPS])
    base = measure_lengths(ArrayBands(scene), rows, cols)
    shifted = measure_lengths(ArrayBands(scene + 4.0), rows, cols)
    np.testing.assert_allclose(shifted, base, rtol=1e-5)


def test_open_sea_and_nodata_give_no_measurement():
    scene = _scene()
    scene[:, :30, :30] = np.nan
    rows, cols = np.array([120.0, 10.0, -500.0]), np.array([120.0, 10.0, 5.0])
    measured = measure_lengths(ArrayBands(scene), rows, cols)
    assert np.isnan(measured).all()


def test_chunks_do_not_change_the_result():
    bands = ArrayBands(_scene(seed=3))
    rng = np.random.default_rng(1)
    rows = np.r_[[s[0] for s in SHIPS], rng.uniform(0, 240, 20)]
    cols = np.r_[[s[1] for s in SHIPS], rng.uniform(0, 240, 20)]
    one = measure_lengths(bands, rows, cols, LengthConfig(chunk=1))
    many = measure_lengths(bands, rows, cols, LengthConfig(chunk=256))
    np.testing.assert_allclose(one, many, rtol=1e-12)  # float summation order only
    assert np.isfinite(one).sum() >= len(SHIPS)


def test_refine_lengths_sources():
    bands = ArrayBands(_scene())
    frame = pd.DataFrame(
        {
            "detect_scene_row": [60, 180, 120],
            "detect_scene_column": [180, 180, 120],
            "vessel_length_m": [200.0, 100.0, 55.0],
        }
    )
    assert refine_lengths(frame, bands, LengthConfig(source="cnn")) is frame
    measured = refine_lengths(frame, bands, LengthConfig(source="measured"))
    np.testing.assert_allclose(measured["vessel_length_m"][:2], [80.0, 250.0], rtol=0.2)
    assert measured["vessel_length_m"][2] == 55.0  # nothing flagged: the network's
    blend = refine_lengths(frame, bands, LengthConfig(source="blend", blend=0.5))
    expected = np.sqrt(frame["vessel_length_m"][:2] * measured["vessel_length_m"][:2])
    np.testing.assert_allclose(blend["vessel_length_m"][:2], expected)
    assert frame["vessel_length_m"].tolist() == [200.0, 100.0, 55.0]  # input unchanged


@pytest.mark.parametrize(
    ("field", "value"),
    [("source", "cfar"), ("blend", 1.5), ("guard_px", 50), ("pfa", 0.0), ("channel", "hh")],
)
def test_bad_settings_name_the_parameter(field, value):
    with pytest.raises(ValueError, match=rf"inference\.length\.{field}"):
        LengthConfig(**{field: value})


def test_non_finite_positions_are_refused():
    with pytest.raises(ValueError, match="Detection 1 has a non-finite position"):
        measure_lengths(ArrayBands(_scene()), np.array([1.0, np.nan]), np.array([1.0, 2.0]))


def _blurred_scene(psf_sigma: float, seed: int = 0) -> np.ndarray:
    """[VH, VV] dB: speckle and line targets blurred by one Gaussian point spread."""
    from xview3_pipeline.core.synthetic import physics

    rng = np.random.default_rng(seed)
    shape = (240, 240)
    target = gaussian_filter(_lines(shape), psf_sigma) * 2400.0 + 1.0
    looks = physics.correlated_speckle_looks(psf_sigma)
    speckle = gaussian_filter(physics.speckle(rng, shape, looks).astype(np.float64), psf_sigma)
    vh = 10 * np.log10(1e-3 * target * speckle)
    return np.stack([vh, vh + 6.0]).astype(np.float32)


def test_the_speckle_correlation_gives_the_point_spread():
    rows = np.array([s[0] for s in SHIPS])
    cols = np.array([s[1] for s in SHIPS])
    truth = np.array([s[2] for s in SHIPS]) * 10.0
    errors = {}
    for deblur in ("fixed", "speckle"):
        measured = measure_lengths(
            ArrayBands(_blurred_scene(1.3)), rows, cols, LengthConfig(deblur=deblur)
        )
        errors[deblur] = np.abs(measured - truth) / truth
    # A point spread wider than the CFAR's constant assumes inflates the shortest target
    # (40 m measured as 68 m); the speckle's correlation measures the spread and takes
    # it off (56 m), and the long targets stay within 15 %.
    assert errors["speckle"][0] < 0.7 * errors["fixed"][0]
    assert errors["speckle"].mean() < 0.85 * errors["fixed"].mean()
    assert (errors["speckle"][1:] < 0.15).all()
