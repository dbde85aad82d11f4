"""random_search: log-scale random search, coarse to fine, with a results table and a
plot (issue 17, item 15)."""

import math

import numpy as np
import pytest

import pydl
from pydl import nn
from pydl.model_selection import Choice, LogUniform, Uniform, random_search
from pydl.optim import SGD


# ------------------------------------------------------------------ distributions
def test_log_uniform_puts_the_same_mass_in_each_decade():
    values = np.array(LogUniform(1e-4, 1).sample(np.random.default_rng(0), 8000))
    assert values.min() >= 1e-4 and values.max() <= 1
    counts = np.histogram(np.log10(values), bins=[-4, -3, -2, -1, 0])[0] / len(values)
    np.testing.assert_allclose(counts, 0.25, atol=0.02)
    # a uniform draw would put ~90% in the last decade
    linear = np.array(Uniform(1e-4, 1).sample(np.random.default_rng(0), 8000))
    assert np.mean(linear > 0.1) > 0.85


def test_integer_and_choice_distributions():
    rng = np.random.default_rng(1)
    ints = Uniform(1, 3, integer=True).sample(rng, 3000)
    assert all(isinstance(v, int) for v in ints)
    np.testing.assert_allclose(np.bincount(ints)[1:] / 3000, 1 / 3, atol=0.03)
    widths = LogUniform(8, 512, integer=True).sample(rng, 2000)
    assert min(widths) >= 8 and max(widths) <= 512 and all(isinstance(w, int) for w in widths)
    assert 0.4 < np.mean(np.array(widths) < 64) < 0.6  # 64 is the geometric middle
    picks = Choice(["sgd", "adam", None]).sample(rng, 3000)
    for option in ("sgd", "adam", None):
        assert abs(picks.count(option) / 3000 - 1 / 3) < 0.03


def test_narrowing_zooms_in_within_the_original_range():
    dist = LogUniform(1e-5, 1)
    narrow = dist.narrow([1e-3, 1e-2], margin=0.5)  # one decade, half a decade each side
    assert narrow.low == pytest.approx(10 ** -3.5) and narrow.high == pytest.approx(10 ** -1.5)
    edge = dist.narrow([0.5, 1.0], margin=0.5)
    assert edge.high == 1.0 and edge.low < 0.5
    single = Uniform(0, 10).narrow([4.0], margin=0.5)  # no spread: 10% of the range
    assert (single.low, single.high) == pytest.approx((3.0, 5.0))
    ints = Uniform(1, 100, integer=True).narrow([10, 12], margin=0.5)
    assert ints.integer and ints.low <= 10 and ints.high >= 12 and ints.high - ints.low < 30
    assert Choice(["a", "b", "c"]).narrow(["c", "a", "c"], 0.5) == Choice(["a", "c"])


# ------------------------------------------------------------------ the search
def _bowl(p):
    """Best at lr=1e-2, units=20, opt='adam'."""
    return ((math.log10(p["lr"]) + 2) ** 2 + (p["units"] - 20) ** 2 / 100
            + (0.0 if p["opt"] == "adam" else 1.0))


SPACE = {"lr": LogUniform(1e-6, 1), "units": Uniform(1, 100, integer=True),
         "opt": Choice(["sgd", "adam", "rmsprop"]), "epochs": 3}


def test_coarse_to_fine_zooms_in_on_the_best_region():
    result = random_search(_bowl, SPACE, n_trials=30, seed=0, refine=2, refine_trials=20)
    assert len(result.trials) == 70
    assert [sum(t["round"] == r for t in result.trials) for r in range(3)] == [30, 20, 20]
    assert [t["trial"] for t in result.trials] == list(range(70))
    assert all(t["epochs"] == 3 for t in result.trials)  # fixed values pass through
    for r, space in enumerate(result.spaces):
        for t in (t for t in result.trials if t["round"] == r):
            assert space["lr"].low <= t["lr"] <= space["lr"].high
            assert space["units"].low <= t["units"] <= space["units"].high
            assert t["opt"] in space["opt"].options
            assert t["score"] == _bowl(t)
    spans = [math.log10(s["lr"].high / s["lr"].low) for s in result.spaces]
    assert spans[0] == pytest.approx(6) and spans[2] < spans[1] < spans[0]
    assert result.spaces[2]["lr"].low < 1e-2 < result.spaces[2]["lr"].high
    coarse = min(t["score"] for t in result.trials if t["round"] == 0)
    fine = min(t["score"] for t in result.trials if t["round"] > 0)
    assert fine < coarse
    assert result.best["score"] == fine and result.best_params["opt"] == "adam"
    assert 10 ** -2.5 < result.best_params["lr"] < 10 ** -1.5
    assert set(result.best_params) == {"lr", "units", "opt", "epochs"}


def test_the_search_is_reproducible_and_seeds_each_trial():
    def draw(p):
        return float(pydl.random.default_generator().random())

    a = random_search(draw, {"x": Uniform(0, 1)}, 6, seed=7, refine=1)
    b = random_search(draw, {"x": Uniform(0, 1)}, 6, seed=7, refine=1)
    assert a.trials == b.trials
    for t in a.trials:  # trial i ran after pydl.manual_seed(seed + i)
        assert t["score"] == np.random.default_rng(7 + t["trial"]).random()
    c = random_search(draw, {"x": Uniform(0, 1)}, 6, seed=8)
    assert [t["x"] for t in c.trials] != [t["x"] for t in a.trials[:6]]


def test_dict_results_mode_max_and_diverged_trials():
    def fit(p):
        if p["lr"] > 0.5:
            return {"accuracy": float("nan"), "loss": float("inf")}
        return {"accuracy": 1 - abs(p["lr"] - 0.1), "loss": p["lr"], "note": "text"}

    result = random_search(fit, {"lr": Uniform(0, 1)}, 20, seed=1, objective="accuracy",
                           mode="max", refine=1, refine_trials=5)
    assert any(math.isnan(t["accuracy"]) for t in result.trials)
    assert result.best["accuracy"] == max(t["accuracy"] for t in result.trials
                                          if not math.isnan(t["accuracy"]))
    assert "loss" in result.best and "note" not in result.best  # numbers are recorded
    ordered = result.sorted_trials()
    assert math.isnan(ordered[-1]["accuracy"])
    assert result.spaces[1]["lr"].high < 0.5  # zoomed on finite, good trials


def test_table_and_plot(tmp_path):
    pytest.importorskip("matplotlib")
    result = random_search(_bowl, SPACE, n_trials=8, seed=2, refine=1, refine_trials=4)
    lines = result.table(top=3).splitlines()
    assert lines[0].split() == ["trial", "round", "lr", "units", "opt", "score"]
    assert len(lines) == 5
    assert int(lines[2].split()[0]) == result.best["trial"]
    scores = [float(line.split()[5]) for line in result.table().splitlines()[2:]]
    assert scores == sorted(scores) and len(scores) == 12
    unsorted = result.table(sort=False).splitlines()[2:]
    assert [int(line.split()[0]) for line in unsorted] == list(range(12))
    assert "best score=" in repr(result)
    path = result.plot(tmp_path / "search.png")
    assert (tmp_path / "search.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path == str(tmp_path / "search.png")
    result.plot(tmp_path / "lr.png", params=["lr"])
    with pytest.raises(ValueError, match="'momentum' is not a hyperparameter"):
        result.plot(tmp_path / "x.png", params=["momentum"])


def test_a_real_search_over_a_small_mlp():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3))
    x = rng.standard_normal((160, 4)).astype(np.float32)
    y = np.argmax(x @ w + 0.5 * rng.standard_normal((160, 3)), axis=1)

    def build_and_fit(p):
        model = nn.Sequential(nn.Linear(4, p["hidden"]), nn.Tanh(), nn.Linear(p["hidden"], 3))
        history = pydl.fit(model, x[:120], y[:120], loss="cross_entropy",
                           optimizer=SGD(model.parameters(), lr=p["lr"]), epochs=4,
                           batch_size=16, verbose=0, seed=0, validation_data=(x[120:], y[120:]))
        return {"val_loss": history.history["val_loss"][-1],
                "loss": history.history["loss"][-1]}

    space = {"lr": LogUniform(1e-4, 3), "hidden": LogUniform(4, 32, integer=True)}
    result = random_search(build_and_fit, space, n_trials=6, seed=0, refine=1,
                           refine_trials=4, objective="val_loss")
    scores = [t["val_loss"] for t in result.trials]
    assert max(scores) > 1.5 * min(scores)  # the learning rate matters
    assert result.best_params["lr"] > 1e-3
    best = result.best
    pydl.manual_seed(0 + best["trial"])
    assert build_and_fit(result.best_params)["val_loss"] == best["val_loss"]  # it reruns


def test_bad_input():
    with pytest.raises(TypeError, match="build_and_fit must be callable"):
        random_search(None, SPACE, 2)
    with pytest.raises(TypeError, match="space must be a non-empty dict"):
        random_search(_bowl, {}, 2)
    with pytest.raises(TypeError, match="space keys must be strings"):
        random_search(_bowl, {1: Uniform(0, 1)}, 2)
    with pytest.raises(ValueError, match="'round' is a column of the results"):
        random_search(_bowl, {"round": Uniform(0, 1)}, 2)
    with pytest.raises(ValueError, match="n_trials must be >= 1"):
        random_search(_bowl, SPACE, 0)
    with pytest.raises(TypeError, match="refine must be an int"):
        random_search(_bowl, SPACE, 2, refine=1.5)
    with pytest.raises(ValueError, match=r"top must be a number in \(0, 1\]"):
        random_search(_bowl, SPACE, 2, top=0)
    with pytest.raises(ValueError, match=r"margin must be a number in \[0, inf\)"):
        random_search(_bowl, SPACE, 2, margin=float("nan"))
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        random_search(_bowl, SPACE, 2, mode="best")
    with pytest.raises(ValueError, match="objective must be a name other than"):
        random_search(_bowl, SPACE, 2, objective="lr")
    with pytest.raises(ValueError, match="seed must be >= 0"):
        random_search(_bowl, SPACE, 2, seed=-1)
    with pytest.raises(ValueError, match="without the objective 'score'"):
        random_search(lambda p: {"loss": 1.0}, SPACE, 2)
    with pytest.raises(TypeError, match="must return a number .* got str"):
        random_search(lambda p: "good", SPACE, 2)
    with pytest.raises(ValueError, match="LogUniform needs 0 < low"):
        LogUniform(0, 1)
    with pytest.raises(ValueError, match="Uniform needs low < high"):
        Uniform(2, 1)
    with pytest.raises(ValueError, match="low must be finite"):
        Uniform(float("-inf"), 1)
    with pytest.raises(TypeError, match="high must be a real number, got str"):
        LogUniform(1e-3, "1")
    with pytest.raises(ValueError, match="at least one choice"):
        Choice([])
    with pytest.raises(TypeError, match="options must be a list of choices, got str"):
        Choice("abc")
    with pytest.raises(ValueError, match="options must be distinct, 1 repeats"):
        Choice([1, 1])


def test_the_callers_random_stream_is_left_alone():
    # each trial reseeds pydl's default generator; the caller's stream goes on after
    pydl.manual_seed(123)
    want = pydl.random.default_generator().random(3)
    pydl.manual_seed(123)
    random_search(_bowl, SPACE, n_trials=3, seed=2, refine=1, refine_trials=2)
    np.testing.assert_array_equal(pydl.random.default_generator().random(3), want)
