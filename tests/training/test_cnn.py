import torch

from pipeline.training.cnn import block_sizes, build_cnn, count_parameters, flops_per_sample

CONFIG = {"activation": "relu", "kernel_size": 3, "conv_layers": 3, "conv_width": 4, "fc_layers": 3,
          "fc_width": 16, "batch_norm": False, "init": "glorot_uniform"}


def test_blocks_spread_layers_over_three_blocks():
    assert [block_sizes(n) for n in (3, 4, 5)] == [[1, 1, 1], [2, 1, 1], [2, 2, 1]]


def test_parameters_and_flops_match_a_hand_count():
    model = build_cnn(CONFIG, (1, 8, 8), 10, seed=0)
    # convs 1->4, 4->8, 8->16 (3x3, bias), at 8x8, 4x4, 2x2; pooled to 1x1; fc 16->16->16->10
    convs = [(1, 4, 8), (4, 8, 4), (8, 16, 2)]
    params = sum(9 * i * o + o for i, o, _ in convs) + (16 * 16 + 16) + (16 * 16 + 16) + (16 * 10 + 10)
    assert count_parameters(model) == params
    flops = sum(2 * 9 * i * o * s * s for i, o, s in convs) + 2 * (16 * 16 + 16 * 16 + 16 * 10)
    assert flops_per_sample(model, (1, 8, 8), torch.device("cpu")) == flops


def test_same_seed_rebuilds_the_same_network():
    a = build_cnn(CONFIG | {"init": "normal"}, (1, 8, 8), 10, seed=5)
    b = build_cnn(CONFIG | {"init": "normal"}, (1, 8, 8), 10, seed=5)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_constant_init_sets_every_weight():
    model = build_cnn(CONFIG | {"init": "constant"}, (1, 8, 8), 10, seed=0)
    weights = [m.weight for m in model if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    assert all(torch.all(w == 0.05) for w in weights)
