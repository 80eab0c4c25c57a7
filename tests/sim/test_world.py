"""The generated world: deterministic, unique names, consistent relations."""

from __future__ import annotations

import pytest

from webresearch.envs.backends import make_web
from webresearch.errors import ConfigError
from webresearch.sim.world import RELATIONS, World, WorldConfig


def test_same_seed_same_world_other_seed_other_world() -> None:
    config = WorldConfig(seed=3, people=30, works=10)
    a = World.generate(config)
    b = World(config, list(World.generate.__wrapped__(config).entities.values()))
    assert list(a.entities.values()) == list(b.entities.values())
    other = World.generate(WorldConfig(seed=4, people=30, works=10))
    assert a.entities.keys() != other.entities.keys()


def test_names_unique_and_relations_typed() -> None:
    world = World.generate(WorldConfig())
    names = [e.name for e in world.entities.values()]
    assert len(names) == len(set(names)) == 492
    for entity in world.entities.values():
        for relation, target in entity.links.items():
            assert RELATIONS[relation].source == entity.kind
            assert world.entities[target].kind == RELATIONS[relation].target


def test_facts_are_plausible() -> None:
    world = World.generate(WorldConfig())
    for org in world.of_kind("organization"):
        founder = world.follow(org, "founder")
        assert founder.facts["born"] < org.facts["founded"] <= 2020
    for country in world.of_kind("country"):
        assert world.follow(world.follow(country, "capital"), "country") is country


def test_a_scaled_world_is_named_by_its_spec_and_bad_specs_say_what_is_expected() -> None:
    web = make_web("sim:seed=3,scale=2")
    assert web.config.world == WorldConfig(seed=3).scaled(2)  # type: ignore[attr-defined]
    assert len(World.generate(WorldConfig(seed=3).scaled(2)).of_kind("person")) == 480
    assert make_web("sim:seed=3").config.world == WorldConfig(seed=3)  # type: ignore[attr-defined]
    for bad in ("sim:seed=x", "sim:scale=0", "sim:seed=1,size=2", "sim:seed"):
        with pytest.raises(ConfigError, match="Expects 'sim', 'sim:seed=<int>'"):
            make_web(bad)
