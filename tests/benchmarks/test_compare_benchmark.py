"""pipeline.benchmarks.compare on a small warehouse: it runs, times every x and rule, and the rows it says the
chart ships are each study's change points and end, counted here by a replay of the warehouse rows."""

import pytest

from pipeline.benchmarks import compare
from tests.app.test_compare_page import replay


def test_it_times_every_choice_and_ships_only_change_points(tmp_path, capsys):
    path = tmp_path / "warehouse.duckdb"
    compare.build(path, 400, 2)
    results = compare.time_page(path, 1, "planted-bohb-0")
    assert set(results) == {(x, rule) for x in compare.XS for rule in compare.RULES}
    for (x, rule), (times, rows) in results.items():
        expected = sum(len(replay(path, f"planted-bohb-{seed}", rule)["changes"]) + 1 for seed in range(2))
        assert rows == expected and len(times) == 1 and times[0] > 0, (x, rule)
    compare.main(["--evaluations", "100", "--studies", "2", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "2 planted sweeps of 100 evaluations" in out and out.count(" ms ") == 6


@pytest.mark.parametrize("flags", [["--studies", "0"], ["--evaluations", "-5"], ["--repeats", "x"]])
def test_bad_flags_are_refused(flags, capsys):
    with pytest.raises(SystemExit) as exit_:
        compare.main(flags)
    assert exit_.value.code == 2 and "error" in capsys.readouterr().err
