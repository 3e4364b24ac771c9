"""Domain randomisation: ranges, per-scene draws, out-of-distribution scenes, errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.ndimage import gaussian_filter

from xview3_pipeline.core.config import RenamedOptionWarning
from xview3_pipeline.core.synthetic import (
    OOD_AXES,
    DomainConfig,
    DomainDraw,
    OODConfig,
    SyntheticConfig,
    generate_dataset,
    physics,
)
from xview3_pipeline.core.synthetic.domain import LIMITS, ood_ranges
from xview3_pipeline.core.synthetic.render import build_sprites, render_band
from xview3_pipeline.core.synthetic.scenario import plan_dataset

PARAMS = Path(__file__).resolve().parents[3] / "conf" / "base" / "parameters_synthetic_data.yml"
#: The constants the generator used before its conditions were randomised.
FORMER_CONSTANTS = {
    "wind_speed_ms": 7.0,
    "wind_variability": 0.12,
    "incidence_near_deg": 30.9,
    "incidence_far_deg": 46.0,
    "nesz_db": -28.0,
    "nesz_seam_db": 1.0,
    "psf_fwhm_px": 2.0,
    "clutter_texture_db": 0.0,
    "vessel_vv_at_100m_db": 15.0,
    "vessel_vv_slope_db": 30.0,
    "vessel_vv_scatter_db": 2.5,
    "sidelobe_db": -16.5,
    "ghost_rate": 1.0,
    "ghost_db": -22.5,
    "land_texture_db": 2.0,
    "calibration_offset_db": 0.0,
}
#: Out-of-distribution axes, as the parameters and the README document them.
DOCUMENTED_OOD_AXES = {
    "wind_speed_ms",
    "calibration_offset_db",
    "nesz_db",
    "nesz_seam_db",
    "psf_fwhm_px",
    "vessel_vv_at_100m_db",
    "vessel_vv_slope_db",
    "vessel_vv_scatter_db",
}
PLAN_CONFIG = SyntheticConfig.from_dict(
    {
        "seed": 5,
        "n_locations": 2,
        "revisit_splits": ["validation", "train", "train", "public"],
        "height": 128,
        "width": 128,
        "ood": {"scenes_per_location": 2},
    }
)
NAMES = [f.name for f in dataclasses.fields(DomainConfig)]


def _generator_params() -> dict:
    return yaml.safe_load(PARAMS.read_text())["synthetic_data"]["generator"]


def _in_range(value: float, rng: tuple[float, float]) -> bool:
    return rng[0] <= value <= rng[1]


# --------------------------------------------------------------------------- ranges
def test_every_parameter_has_limits_a_draw_field_and_its_former_constant_in_range():
    assert list(LIMITS) == NAMES == [f.name for f in dataclasses.fields(DomainDraw)]
    assert set(FORMER_CONSTANTS) == set(NAMES)
    default = DomainConfig()
    for name in NAMES:
        assert _in_range(FORMER_CONSTANTS[name], getattr(default, name)), name
        (lo, hi), unit = LIMITS[name]
        assert lo <= getattr(default, name)[0] <= getattr(default, name)[1] <= hi, name
        assert unit


def test_parameters_file_states_the_default_ranges_and_ood_block():
    params = _generator_params()
    assert DomainConfig.from_dict(params["domain"]) == DomainConfig()
    cfg = SyntheticConfig.from_dict(params)
    assert cfg.domain == DomainConfig()
    assert cfg.ood == OODConfig(scenes_per_location=2, domain=ood_ranges(DomainConfig()))
    assert set(params["ood"]["domain"]) == DOCUMENTED_OOD_AXES


def test_ood_ranges_lie_outside_the_training_ranges_where_documented():
    assert set(OOD_AXES) == DOCUMENTED_OOD_AXES
    ood, train = ood_ranges(DomainConfig()), DomainConfig()
    assert set(ood.disjoint_from(train)) == DOCUMENTED_OOD_AXES
    for name in set(NAMES) - DOCUMENTED_OOD_AXES:
        assert getattr(ood, name) == getattr(train, name), name
    # Unlisted OOD parameters follow the configured training ranges.
    custom = SyntheticConfig.from_dict(
        {"domain": {"ghost_rate": [0.2, 0.3]}, "ood": {"domain": {"nesz_db": [-20.0, -18.0]}}}
    )
    assert custom.ood.domain.ghost_rate == (0.2, 0.3)
    assert custom.ood.domain.nesz_db == (-20.0, -18.0)
    assert custom.ood.domain.wind_speed_ms == ood.wind_speed_ms


# --------------------------------------------------------------------------- draws
def test_each_scene_draws_within_its_ranges_and_ood_scenes_outside_on_the_ood_axes():
    plans = plan_dataset(PLAN_CONFIG)
    in_plans = [p for p in plans if not p.ood]
    ood_plans = [p for p in plans if p.ood]
    assert len(in_plans) == 8 and len(ood_plans) == 4
    assert all(p.split == "public" for p in ood_plans)
    assert [p.revisit for p in ood_plans] == [4, 5, 4, 5]
    train = PLAN_CONFIG.domain
    for plan in plans:
        ranges = PLAN_CONFIG.ood.domain if plan.ood else train
        for name in NAMES:
            assert _in_range(getattr(plan.domain, name), getattr(ranges, name)), name
        assert plan.wind_speed == plan.domain.wind_speed_ms
        offsets = np.asarray(plan.nesz_offsets_db)
        assert np.all(np.abs(offsets - plan.domain.nesz_db) <= plan.domain.nesz_seam_db)
    for plan in ood_plans:
        for name in OOD_AXES:
            assert not _in_range(getattr(plan.domain, name), getattr(train, name)), name
    # Scenes differ in their draws.
    assert len({p.domain.psf_fwhm_px for p in plans}) == len(plans)


def test_draws_come_from_the_seed_and_ood_scenes_leave_the_others_unchanged():
    a, b = plan_dataset(PLAN_CONFIG), plan_dataset(PLAN_CONFIG)
    assert [p.domain for p in a] == [p.domain for p in b]
    other = plan_dataset(dataclasses.replace(PLAN_CONFIG, seed=6))
    assert not {p.domain for p in a} & {p.domain for p in other}
    without = plan_dataset(dataclasses.replace(PLAN_CONFIG, ood=OODConfig(scenes_per_location=0)))
    assert [(p.scene_id, p.domain) for p in without] == [
        (p.scene_id, p.domain) for p in a if not p.ood
    ]


def test_manifest_records_domain_and_every_draw(tmp_path):
    config = dataclasses.replace(
        PLAN_CONFIG,
        n_locations=1,
        revisit_splits=("train",),
        height=64,
        width=64,
        ood=OODConfig(scenes_per_location=1),
    )
    done = generate_dataset(config, tmp_path / "raw")
    m = done.manifest
    assert list(m["domain"]) == ["in", "ood"]
    assert list(m["split"]) == ["train", "public"]
    assert {f"domain_{n}" for n in NAMES} <= set(m.columns)
    for plan, row in zip(plan_dataset(config), m.itertuples(), strict=True):
        for name in NAMES:
            assert getattr(row, f"domain_{name}") == pytest.approx(
                getattr(plan.domain, name), abs=1e-4
            )
    ood_id = m.loc[m["domain"] == "ood", "scene_id"].item()
    assert (done.root / "public" / ood_id).is_dir()
    assert ood_id in set(done.test_truth["scene_id"])


# --------------------------------------------------------------------------- effects
def _one_plan(objects_per_scene: float = 80.0, size: int = 128, **fixed: float):
    """The first scene of a one-scene dataset with some parameters fixed (lo == hi)."""
    domain = {name: [value, value] for name, value in fixed.items()}
    cfg = SyntheticConfig.from_dict(
        {
            "seed": 3,
            "n_locations": 1,
            "coastal_fraction": 0.0,
            "revisit_splits": ["public"],
            "height": size,
            "width": size,
            "objects_per_scene": objects_per_scene,
            "infrastructure_probability": 0.0 if objects_per_scene == 0 else 0.75,
            "domain": domain,
        }
    )
    return plan_dataset(cfg)[0]


def _render(plan):
    vv, vh = render_band(plan, 0, plan.height, build_sprites(plan))
    valid = plan.valid(*np.mgrid[0 : plan.height, 0 : plan.width] + 0.5)
    return vv, vh, valid


def test_calibration_offset_shifts_both_channels_by_its_value():
    plan = _one_plan(calibration_offset_db=0.0)
    shifted = dataclasses.replace(
        plan, domain=dataclasses.replace(plan.domain, calibration_offset_db=3.5)
    )
    vv0, vh0, valid = _render(plan)
    vv1, vh1, _ = _render(shifted)
    np.testing.assert_allclose(np.median(vv1[valid] - vv0[valid]), 3.5, atol=0.05)
    np.testing.assert_allclose(np.median(vh1[valid] - vh0[valid]), 3.5, atol=0.05)


def test_wider_point_spread_correlates_the_speckle():
    def lag1(fwhm: float) -> float:
        plan = _one_plan(psf_fwhm_px=fwhm, clutter_texture_db=0.0, objects_per_scene=0)
        vv, _, valid = _render(plan)
        # Neighbours along the columns, where incidence hardly changes, less column means.
        vv = np.where(valid, vv, 0.0)
        vv = vv - vv.sum(axis=0) / np.maximum(valid.sum(axis=0), 1)
        both = valid[1:] & valid[:-1]
        return float(np.corrcoef(vv[1:][both], vv[:-1][both])[0, 1])

    # Gaussian blur of white noise: lag-1 correlation exp(-1 / (4 sigma^2)), 0.65 and 0.87.
    narrow, wide = lag1(1.8), lag1(3.2)
    assert 0.45 < narrow < wide - 0.12 and wide < 0.95, (narrow, wide)


@pytest.mark.parametrize("fwhm", [1.0, 2.0, 3.2])
def test_correlated_speckle_keeps_unit_mean_and_the_looks_of_iw_grdh(fwhm):
    sigma = fwhm / 2.355
    looks = physics.correlated_speckle_looks(sigma)
    white = physics.speckle(np.random.default_rng(0), (400, 400), looks)
    blurred = gaussian_filter(white.astype(np.float64), sigma, mode="nearest")
    assert blurred.mean() == pytest.approx(1.0, abs=0.01)
    assert 1.0 / blurred.var() == pytest.approx(physics.ENL, rel=0.06)


def test_noise_floor_and_seams_raise_vh_and_texture_roughens_the_clutter():
    low = _one_plan(nesz_db=-30.0, nesz_seam_db=0.0, wind_speed_ms=3.5)
    high = _one_plan(nesz_db=-22.0, nesz_seam_db=0.0, wind_speed_ms=3.5)
    assert high.nesz_offsets_db == (-22.0,) * 3
    seams = _one_plan(nesz_db=-22.0, nesz_seam_db=3.0, wind_speed_ms=3.5)
    assert np.ptp(seams.nesz_offsets_db) > 1.0
    _, vh_low, valid = _render(low)
    _, vh_high, _ = _render(high)
    assert np.median(vh_high[valid]) > np.median(vh_low[valid]) + 3.0
    x, y = np.meshgrid(np.arange(0.0, 5000.0, 50.0), np.arange(0.0, 5000.0, 50.0))
    rf = np.full_like(x, 0.5)
    smooth = _one_plan(clutter_texture_db=0.0)
    rough = dataclasses.replace(
        smooth, domain=dataclasses.replace(smooth.domain, clutter_texture_db=3.0)
    )
    std = [float(np.std(10 * np.log10(p.sea_sigma0(x, y, rf)[0]))) for p in (smooth, rough)]
    assert std[1] > std[0] + 1.5


def test_vessel_brightness_follows_the_drawn_relation():
    plan = _one_plan(vessel_vv_at_100m_db=12.0, vessel_vv_slope_db=22.0, vessel_vv_scatter_db=0.0)
    objs = plan.objects[plan.objects["kind"].isin(["vessel", "fishing"])]
    assert len(objs) > 10
    expected = 12.0 + 22.0 * np.log10(objs["length_m"].to_numpy(float) / 100.0)
    np.testing.assert_allclose(objs["vv_db"].to_numpy(float), expected)


def test_ghost_rate_zero_draws_no_ghosts():
    # Ghosts lie 4.7-5.9 km from their parent: the scene must be larger than that.
    plan = _one_plan(ghost_rate=1.0, vessel_vv_at_100m_db=20.0, size=1024)
    assert int((plan.objects["vv_db"] > 10.0).sum()) > 5
    none = dataclasses.replace(plan, domain=dataclasses.replace(plan.domain, ghost_rate=0.0))
    # Two ghost sprites per bright target, less those landing outside the scene.
    assert len(build_sprites(none)) < len(build_sprites(plan)) - 5


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"domain": {"psf_fwhm_px": [1.0, 5.0]}},
            r"generator\.domain\.psf_fwhm_px=\[1\.0, 5\.0\]: expected \[lo, hi\] with 1 <= lo <= hi <= 4\.5 \(px\)",
        ),
        (
            {"domain": {"ghost_rate": [0.9, 0.5]}},
            r"domain\.ghost_rate=\[0\.9, 0\.5\].*0 <= lo <= hi <= 1",
        ),
        (
            {"domain": {"nesz_db": "-28"}},
            r"domain\.nesz_db='-28': expected a range \[lo, hi\] of two numbers",
        ),
        ({"domain": {"nesz_db": [-28.0]}}, r"domain\.nesz_db=\[-28\.0\]: expected a range"),
        ({"domain": {"wind_speed_ms": [float("nan"), 5.0]}}, r"wind_speed_ms=.*finite"),
        (
            {"domain": {"wind_sped_ms": [3.0, 5.0]}},
            r"Unknown synthetic_data\.generator\.domain key\(s\) \['wind_sped_ms'\]; valid keys are .*wind_speed_ms",
        ),
        (
            {"domain": {"incidence_near_deg": [30.0, 38.0], "incidence_far_deg": [36.0, 46.0]}},
            r"incidence_far_deg=\[36\.0, 46\.0\] must lie above .*incidence_near_deg=\[30\.0, 38\.0\]",
        ),
        (
            {"ood": {"scenes_per_location": -1}},
            r"ood\.scenes_per_location=-1: expected an integer >= 0",
        ),
        ({"ood": {"scenes_per_location": 1.5}}, r"ood\.scenes_per_location=1\.5"),
        (
            {"ood": {"domain": {"calibration_offset_db": [3.0, 8.0]}}},
            r"ood\.domain\.calibration_offset_db=\[3\.0, 8\.0\].*-6 <= lo <= hi <= 6 \(dB\)",
        ),
        ({"ood": {"scenes": 2}}, r"Unknown synthetic_data\.generator\.ood key\(s\) \['scenes'\]"),
    ],
)
def test_bad_ranges_are_rejected_naming_parameter_and_value(values, message):
    with pytest.raises(ValueError, match=message):
        SyntheticConfig.from_dict(values)


def test_former_wind_speed_range_is_accepted_with_a_warning():
    with pytest.warns(RenamedOptionWarning, match=r"wind_speed_range.*domain\.wind_speed_ms"):
        cfg = SyntheticConfig.from_dict({"wind_speed_range": [4.0, 9.0]})
    assert cfg.domain.wind_speed_ms == (4.0, 9.0)
    assert (
        dataclasses.replace(cfg.domain, wind_speed_ms=DomainConfig().wind_speed_ms)
        == DomainConfig()
    )
    manifest = pd.DataFrame(
        [
            plan.domain.manifest_columns()
            for plan in plan_dataset(
                dataclasses.replace(
                    cfg, n_locations=1, revisit_splits=("train",) * 3, height=64, width=64
                )
            )
        ]
    )
    assert manifest["domain_wind_speed_ms"].between(4.0, 9.0).all()
