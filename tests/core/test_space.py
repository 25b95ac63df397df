import math

import pytest

from pipeline.core.space import SpaceError, load_space, parse_space


@pytest.fixture(scope="module")
def ensemble_space():
    return load_space("ensemble")


def test_ensemble_space_declares_the_study_space(ensemble_space):
    assert ensemble_space.names == [
        "dataset", "batch_size", "augmentation", "optimizer", "activation", "init", "learning_rate",
        "conv_layers", "conv_width", "kernel_size", "fc_layers", "fc_width", "batch_norm"]
    assert ensemble_space["batch_size"].choices == (32, 64, 128, 256)
    assert set(ensemble_space["activation"].choices) == {"relu", "elu", "sigmoid", "tanh"}
    assert set(ensemble_space["init"].choices) == {"constant", "normal", "glorot_uniform", "glorot_normal"}
    assert set(ensemble_space["optimizer"].choices) == {"adam", "rmsprop", "sgd_momentum"}
    assert ensemble_space["kernel_size"].choices == (3, 5, 7)


def test_sampler_covers_every_option_and_stays_in_range(ensemble_space):
    configs = [ensemble_space.sample(seed=7, index=i) for i in range(400)]
    for p in ensemble_space.params:
        values = [c[p.name] for c in configs]
        if p.is_categorical:
            assert set(values) == set(p.choices), p.name
        elif p.integer:
            assert set(values) == set(range(int(p.low), int(p.high) + 1)), p.name
        else:
            assert min(values) >= p.low and max(values) <= p.high, p.name
    lrs = sorted(c["learning_rate"] for c in configs)
    # log-uniform: the median sits near the geometric mean of the range, not the arithmetic one
    assert abs(math.log10(lrs[200]) - (-2.5)) < 0.3


def test_sampler_respects_the_seed(ensemble_space):
    first = [ensemble_space.sample(seed=3, index=i) for i in range(20)]
    assert first == [ensemble_space.sample(seed=3, index=i) for i in range(20)]
    # order independent: member 17 does not depend on members 0..16 having been drawn
    assert ensemble_space.sample(seed=3, index=17) == first[17]
    assert first != [ensemble_space.sample(seed=4, index=i) for i in range(20)]


def test_conditions_leave_inactive_parameters_out():
    space = parse_space({
        "optimizer": {"choices": ["adam", "sgd"]},
        "momentum": {"low": 0.0, "high": 1.0, "when": {"optimizer": ["sgd"]}},
    }, source="test")
    configs = [space.sample(0, i) for i in range(50)]
    assert all(("momentum" in c) == (c["optimizer"] == "sgd") for c in configs)
    assert {c["optimizer"] for c in configs} == {"adam", "sgd"}


@pytest.mark.parametrize("tables, message", [
    ({"x": {"low": 2, "high": 1}}, "below high"),
    ({"x": {"low": 0, "high": 1, "log": True}}, "low > 0"),
    ({"x": {"choices": []}}, "list of 1 to"),
    ({"x": {"low": 1}}, "both 'low' and 'high'"),
    ({"x": {"choices": [1], "typo": 1}}, "unknown keys"),
    ({"x": {"choices": [1], "when": {"later": [1]}}}, "declared above"),
    ({"a": {"choices": [1, 2]}, "x": {"choices": [1], "when": {"a": [3]}}}, "not among its choices"),
    ({"budget": "hours", "x": {"choices": [1]}}, "budget = 'hours'"),
    ({"fixed": {"x": 1}, "x": {"choices": [1]}}, "both searched and fixed"),
    ({}, "no hyperparameters"),
])
def test_bad_spaces_are_refused_with_a_reason(tables, message):
    with pytest.raises(SpaceError, match=message):
        parse_space(tables, source="test")


def test_space_round_trips_through_json(ensemble_space):
    from pipeline.core.space import Space

    again = Space.from_json(ensemble_space.to_json())
    assert [again.sample(1, i) for i in range(10)] == [ensemble_space.sample(1, i) for i in range(10)]


def test_probes_give_every_option_and_range_end_once_with_its_parents_set():
    space = parse_space({
        "optimizer": {"choices": ["adam", "sgd"]},
        "momentum": {"low": 0.0, "high": 1.0, "when": {"optimizer": ["sgd"]}},
        "layers": {"low": 3, "high": 5, "integer": True},
    }, source="test")
    probes = space.probes()
    assert [(name, value) for name, value, _ in probes] == [
        ("optimizer", "adam"), ("optimizer", "sgd"), ("momentum", 0.0), ("momentum", 1.0), ("layers", 3), ("layers", 5)]
    # momentum is only active under sgd: probing it sets its parent; under adam it is absent, as sample() leaves it
    assert probes[2][2] == {"optimizer": "sgd", "momentum": 0.0, "layers": 3}
    assert probes[0][2] == {"optimizer": "adam", "layers": 3}
    assert all(isinstance(config["layers"], int) for _, _, config in probes)


def test_published_spaces_pass_the_trainer_check():
    """The check a job runs before it writes its study: every probe read and built on the meta device."""
    from pipeline.training.train import check_space

    for name, with_fixed in (("ensemble", False), ("bohbvis", True)):
        for size in (4, 16, 512):  # the ends of --image-size: kernel 7 fits a 4-pixel image (2 x 4 - 1)
            check_space(load_space(name), (3, size, size), source=name, with_fixed=with_fixed)
