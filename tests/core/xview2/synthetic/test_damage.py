"""Damage per disaster type: classes drawn per building and how the post image shows them."""

from __future__ import annotations

import numpy as np
import pytest

from xview3_pipeline.core.xview2.synthetic.damage import apply_damage, assign_damage, hazard_field
from xview3_pipeline.core.xview2.synthetic.events import Acquisition
from xview3_pipeline.core.xview2.synthetic.layout import plan_layout
from xview3_pipeline.core.xview2.synthetic.render import leaned_footprints, render_tile
from xview3_pipeline.core.xview2.synthetic.xbd import DISASTER_TYPES, SUBTYPES

SIZE, GSD = 256, 1.0
SUN = Acquisition(
    "2018-07-01T16:00:00.000Z", "leaf-on", 150.0, 60.0, 0.0, 0.0, (1.0, 1.0, 1.0), 0.0
)


def _tile(disaster_type: str, seed: int):
    rng = np.random.default_rng(seed)
    layout = plan_layout(
        rng, size=SIZE, gsd=GSD, block_m=70.0, road_m=10.0, occupancy=0.9, margin_px=2.0
    )
    field = hazard_field(rng, SIZE, GSD, disaster_type)
    subtypes = assign_damage(rng, layout, field, disaster_type, unclassified_share=0.02)
    return rng, layout, field, subtypes


@pytest.mark.parametrize("disaster_type", DISASTER_TYPES)
def test_every_damage_class_occurs_and_follows_the_hazard(disaster_type):
    subtypes, values = [], []
    for seed in range(3):
        _, layout, field, drawn = _tile(disaster_type, seed)
        subtypes += drawn
        c = np.array([b.footprint.centroid.coords[0] for b in layout.buildings]).astype(int)
        values += list(field[c[:, 1], c[:, 0]])
    assert len(subtypes) > 100
    assert set(subtypes) <= set(SUBTYPES)
    assert {"no-damage", "minor-damage", "major-damage", "destroyed"} <= set(subtypes)
    graded = [
        (SUBTYPES.index(s), v)
        for s, v in zip(subtypes, values, strict=True)
        if s != "un-classified"
    ]
    codes, hazard = np.array(graded).T
    assert np.corrcoef(codes, hazard)[0, 1] > 0.6  # damage is clustered where the hazard is


def test_fire_razes_more_houses_than_it_partly_damages():
    subtypes = [s for seed in range(3) for s in _tile("fire", seed)[3]]
    partial = subtypes.count("minor-damage") + subtypes.count("major-damage")
    assert subtypes.count("destroyed") > 2 * partial


def _pair(disaster_type: str, seed: int):
    rng, layout, field, subtypes = _tile(disaster_type, seed)
    roofs = leaned_footprints(layout, (0.0, 0.0))
    image, roof_ids = render_tile(layout, SUN, rng, roofs)
    post = apply_damage(
        image.copy(), roof_ids, subtypes, field=field, disaster_type=disaster_type, rng=rng, gsd=GSD
    )
    return (
        image,
        post,
        roof_ids,
        field,
        np.array([-1, *[SUBTYPES.index(s) for s in subtypes]])[roof_ids],
    )


def test_flood_water_covers_low_ground_but_not_intact_roofs():
    pre, post, roof_ids, field, code = _pair("flooding", 0)
    water = (field > 0.5) & (roof_ids == 0)
    assert water.mean() > 0.1
    brown = np.abs(post[water] - (0.36, 0.32, 0.24)).max(axis=1) < 0.08
    assert brown.mean() > 0.9
    intact = code == 0
    np.testing.assert_array_equal(post[intact], pre[intact])


def test_fire_leaves_burn_scars_and_charred_ruins():
    pre, post, roof_ids, field, code = _pair("fire", 1)
    burnt = (field > 0.55) & (roof_ids == 0)
    assert burnt.mean() > 0.05
    assert post[burnt].mean() < 0.6 * pre[burnt].mean()
    assert post[code == 3].mean() < pre[code == 3].mean()


@pytest.mark.parametrize("disaster_type", ["wind", "earthquake"])
def test_destroyed_roofs_turn_to_debris_and_debris_spreads_around(disaster_type):
    pre, post, roof_ids, _, code = _pair(disaster_type, 2)
    destroyed = code == 3
    assert destroyed.sum() > 0
    changed = np.abs(post[destroyed] - pre[destroyed]).max(axis=1) > 0.02
    assert changed.mean() > 0.8
    assert post[destroyed].std(axis=0).mean() > pre[destroyed].std(axis=0).mean()
    ground = roof_ids == 0
    assert (np.abs(post[ground] - pre[ground]).max(axis=1) > 0.02).any()
    intact = code == 0
    np.testing.assert_array_equal(post[intact], pre[intact])
