"""Analysis of the toy model: reading the stored `lrd_toy_decay` result (a (γ, noise) slice, the main path, windows
of a curve), and the checks of the model chapter (`model_checks`: the valley of minima, a Monte-Carlo check of the
interpolators' test loss, the closed-form Hessian trace against autograd, κ, the ends of the 2-D picture's runs and
the chapter's table of checks against the paper; `model_chapter_checks` at the stored decay result's setting), and
the late-decay chapter's numbers (`decay_table`, `efolding_time`, `decay_numbers`).

Arrays of the decay result are indexed (seed, γ, noise, T₁[, step | coordinate]); see `experiment.run_decay`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from . import model as toy
from ...display import below


def index(result, exponent: float, noise: str) -> tuple[int, int]:
    """(γ index, noise index) in a decay result; KeyError naming what is stored when absent."""
    exponents, noises = list(result["exponents"]), [str(z) for z in result["noises"]]
    if float(exponent) not in exponents or noise not in noises:
        raise KeyError(f"(exponent={exponent}, noise={noise!r}) is not stored: exponents {exponents}, noises {noises}")
    return exponents.index(float(exponent)), noises.index(noise)


def final(result, quantity: str, exponent: float, noise: str) -> np.ndarray:
    """final_<quantity> after the GD polish, shape (seeds, T₁)."""
    g, z = index(result, exponent, noise)
    return result[f"final_{quantity}"][:, g, z, :]


def main_path(result, quantity: str, exponent: float, noise: str) -> tuple[np.ndarray, np.ndarray]:
    """The longest large-LR run (T₁ = max) up to its decay: (steps (L,), values (seeds, L)) of <quantity>_curve."""
    g, z = index(result, exponent, noise)
    t1 = int(result["decay_steps"][-1])
    steps = result["log_steps"]
    keep = steps <= t1
    return steps[keep], result[f"{quantity}_curve"][:, g, z, -1, keep]


def window_mean(steps: np.ndarray, values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Mean over logged steps in [lo, hi) along the last axis."""
    mask = (steps >= lo) & (steps < hi)
    return values[..., mask].mean(-1)


# ----------------------------------------------------------------------------------------------------------------
# Why the minimum-norm interpolator generalizes: a Monte-Carlo check of the closed forms (lrd_model chapter)
# ----------------------------------------------------------------------------------------------------------------

MIN_NORM = "min-norm $w_{mn}$"
RANDOM_V = "$\\alpha_{mn} + v$, random $v \\in \\ker X$"
GD_FROM_W0 = "GD from $w_0$ at $\\gamma = 0$"
STUDY_SIZES = (1, 2, 5, 10, 15, 20, 25, 30, 35, 40, 45, 48)


@dataclass
class InterpolatorStudy:
    """Test losses of three interpolators over many teachers, and their closed-form expectations.

    `simulated`: one row per (n, draw, interpolator) with columns n, n/d, interpolator, test loss.
    `factor[name]`: E L = factor · ½(1 − n/d) for an isotropic teacher with E‖α*‖² = 1 (book's derivation):
    1 for w_mn, 2 for α_mn + v with a random v ∈ ker X (E‖v‖² = 1 − n/d), 1 + ‖w₀‖² for GD from w₀ at γ = 0.
    `table`: at the chapter's n, the simulated mean ± s.e. per interpolator against its closed form.
    """

    d: int
    n: int
    draws: int
    init_norm: float
    simulated: pd.DataFrame
    factor: dict[str, float]
    table: pd.DataFrame

    def closed_form(self, name: str, n: int) -> float:
        """Expected test loss of interpolator `name` at n samples (closed form)."""
        return self.factor[name] * toy.expected_min_norm_test_loss(n, self.d)


def interpolator_study(d: int, n: int, init_norm: float, draws: int = 1000,
                       sizes=STUDY_SIZES) -> InterpolatorStudy:
    """For each n in `sizes`, `draws` independent teachers and training sets (seeds 0 … draws − 1) at dimension d:
    the test loss of w_mn, of α_mn + v with a random v ∈ ker X (seeded by n), and of the point plain gradient
    descent reaches for γ = 0 from w₀ with ‖w₀‖ = init_norm (it keeps the ker X part of w₀). The table compares the
    simulated means at `n` (which must be among `sizes`) with the closed forms."""
    if n not in sizes:
        raise ValueError(f"n = {n} must be one of the simulated sizes {tuple(sizes)}")
    factor = {MIN_NORM: 1.0, RANDOM_V: 2.0, GD_FROM_W0: 1.0 + init_norm ** 2}
    rows = []
    for n_ in sizes:
        q = toy.make_problem(range(draws), n_, d)
        a_mn = q.alpha_mn()
        random_v = toy.sample_interpolators(q.X, q.y, 1, scale=1.0, generator=torch.Generator().manual_seed(n_))[:, 0]
        w0 = toy.initial_points(range(draws), d, init_norm)  # for γ = 0, φ(w) = w
        gd_from_w0 = a_mn + toy.project_kernel(q.X, w0.unsqueeze(1))[:, 0]
        for name, alpha in ((MIN_NORM, a_mn), (RANDOM_V, random_v), (GD_FROM_W0, gd_from_w0)):
            loss = 0.5 * (alpha - q.alpha_star).square().sum(-1).numpy()
            rows += [{"n": n_, "n/d": n_ / d, "interpolator": name, "test loss": v} for v in loss]
    simulated = pd.DataFrame(rows)
    at_n = simulated[simulated["n"] == n].groupby("interpolator", sort=False)["test loss"].agg(["mean", "sem"])
    table = pd.DataFrame({"interpolator": at_n.index, "simulated mean test loss": at_n["mean"].values,
                          "± s.e.": at_n["sem"].values,
                          "closed form": [factor[k] * toy.expected_min_norm_test_loss(n, d) for k in at_n.index]})
    table["distance from closed form, in s.e."] = ((table["simulated mean test loss"] - table["closed form"]).abs()
                                                  / table["± s.e."])
    return InterpolatorStudy(d, n, draws, float(init_norm), simulated, factor, table)


# ----------------------------------------------------------------------------------------------------------------
# The model chapter's checks (lrd_model): valley, trace, κ, the 2-D picture, and the table against the paper
# ----------------------------------------------------------------------------------------------------------------

LOSS_ROUNDING = 1e-24  # float64 rounding level of the valley's training losses (squared residuals ≈ 1e-15)
REL_ROUNDING = 1e-13  # float64 rounding level of the trace's relative errors (a few ulps)
FIT = "largest training loss on the 1,000 points"
MID = "median training loss at midpoints"
TRACE_ERRORS = ("max rel. error, general closed form", "max rel. error, formula in r on M")


def valley_check(problem, exponents, points: int = 1000, scale: float = 3.0, seed: int = 0) -> pd.DataFrame:
    """`points` points of the training minima M of the first problem (α_mn + v, v Gaussian in ker X, seeded), per γ:
    the largest training loss on them, the smallest ‖w‖ / ‖w_mn‖, and the median training loss at the midpoints of
    `points` / 2 pairs (zero only where M is flat)."""
    alphas = toy.sample_interpolators(problem.X, problem.y, points, scale=scale,
                                      generator=torch.Generator().manual_seed(seed))
    half = points // 2
    rows = []
    for exponent in exponents:
        ws = toy.phi_inv(alphas, exponent)  # points of M, shape (1, points, d)
        mid = 0.5 * (ws[:, :half] + ws[:, half:2 * half])  # midpoints of pairs
        r_mn = float(toy.min_norm_radius(problem.X, problem.y, exponent)[0])
        rows.append({"γ": exponent, FIT: float(toy.train_loss(ws, problem.X, problem.y, exponent).max()),
                     "smallest ‖w‖ / ‖w_mn‖": float(ws.norm(dim=-1).min()) / r_mn,
                     MID: float(toy.train_loss(mid, problem.X, problem.y, exponent).median())})
    return pd.DataFrame(rows)


def autograd_trace(w: torch.Tensor, X: torch.Tensor, y: torch.Tensor, exponent) -> float:
    """tr of the exact Hessian of L̂ at one point w (d,) of one problem (X (1, n, d), y (1, n)), by autograd."""
    loss = lambda v: toy.train_loss(v.reshape(1, 1, -1), X, y, exponent).sum()
    return float(torch.trace(torch.autograd.functional.hessian(loss, w)))


def trace_check(problem, exponents, points: int = 5, scale: float = 2.0, off: float = 0.1, seed: int = 1) -> pd.DataFrame:
    """The closed-form Hessian traces (`full_trace` anywhere, `manifold_trace` in r on M) against autograd, per γ
    at `points` points of M spread along it and at the same points moved off M by Gaussian noise of size `off`
    (where noisy SGD iterates sit). Ranges are formatted as text; the errors are floats (NaN: holds on M only)."""
    X, y = problem.X, problem.y
    rows = []
    gen = torch.Generator().manual_seed(seed)
    for exponent in exponents:
        on_m = toy.phi_inv(toy.sample_interpolators(X, y, points, scale=scale, generator=gen), exponent)  # (1, P, d)
        off_m = on_m + off * torch.randn(1, points, X.shape[-1], dtype=torch.float64, generator=gen)  # near M
        r_mn = float(toy.min_norm_radius(X, y, exponent)[0])
        for where, pts in (("on M", on_m), ("off M", off_m)):
            exact = np.array([autograd_trace(w, X, y, exponent) for w in pts[0]])
            general = toy.full_trace(pts, X, y, exponent)[0].numpy()
            row = {"γ": f"{exponent:g}", "points": where,
                   "‖w‖ / ‖w_mn‖": f"{pts.norm(dim=-1).min() / r_mn:.2f}–{pts.norm(dim=-1).max() / r_mn:.2f}",
                   "tr (autograd)": f"{exact.min():.1f}–{exact.max():.1f}",
                   TRACE_ERRORS[0]: float(np.max(np.abs(general / exact - 1))), TRACE_ERRORS[1]: np.nan}
            if where == "on M":
                on = toy.manifold_trace(pts.norm(dim=-1), X, y, exponent)[0].numpy()
                row[TRACE_ERRORS[1]] = float(np.max(np.abs(on / exact - 1)))
            rows.append(row)
    return pd.DataFrame(rows)


def kappa(problem) -> float:
    """κ = ‖X‖_F² ‖α_mn‖² / ‖y‖² of a single training set: w_mn is the flattest point of M exactly when κ ≥ 2 + γ."""
    if problem.S != 1:
        raise ValueError(f"kappa takes a single training set, got {problem.S}")
    return float(problem.X.square().sum() * problem.alpha_mn().square().sum() / problem.y.square().sum())


def one_sample_problems(picture) -> list:
    """The stored 2-D picture's one-sample training sets, one `Problem` per seed."""
    return [toy.Problem.from_arrays(picture["x"][i].reshape(1, -1), picture["alpha_star"][i])
            for i in range(len(picture["seeds"]))]


def picture_ends(picture) -> pd.DataFrame:
    """Where the 2-D picture's runs end, per training set and learning rate (large first): distance to w_mn and to
    the nearest flattest point of M, the final test loss, L(w_mn) and L at that flattest point."""
    lrs = picture["lrs"]
    exponent = float(picture.config["exponent"])
    alpha_star = torch.as_tensor(picture["alpha_star"])
    loss_at = lambda w: toy.test_loss(torch.as_tensor(w).reshape(len(alpha_star), -1, 2), alpha_star, exponent).numpy()
    loss_mn, loss_flat = loss_at(picture["w_mn"])[:, 0], loss_at(picture["w_flat"])  # (P,), (P, 2)
    ends = picture["trajectory"][:, :, -1]  # (P, 2 learning rates, 2)
    rows = []
    for i, seed in enumerate(picture["seeds"]):
        nearest = np.linalg.norm(ends[i][:, None] - picture["w_flat"][i][None], axis=-1).argmin(1)
        for j, lr in enumerate(lrs):
            rows.append({"seed": int(seed), "η": f"{lr:g} ({'large' if j == 0 else 'small'})",
                         "distance to w_mn": np.linalg.norm(ends[i, j] - picture["w_mn"][i]),
                         "distance to nearest flattest point": np.linalg.norm(ends[i, j]
                                                                              - picture["w_flat"][i, nearest[j]]),
                         "test loss at the end": float(picture["test_loss_curve"][i, j, -1]),
                         "L(w_mn)": float(loss_mn[i]), "L at that flattest point": float(loss_flat[i, nearest[j]])})
    return pd.DataFrame(rows)


@dataclass
class ModelChecks:
    """Everything the lrd_model chapter checks (see `model_checks`); `table` is its comparison with the paper."""

    d: int
    n: int
    exponents: tuple
    problem: object  # the chapter's training set (seed 0): a `lrd_toy.Problem`
    valley: pd.DataFrame
    study: InterpolatorStudy
    trace: pd.DataFrame
    kappa: float
    one_sample: list  # the picture's one-sample training sets
    ends: pd.DataFrame
    table: pd.DataFrame

    @property
    def large(self) -> pd.DataFrame:
        """The large-learning-rate rows of `ends`."""
        return self.ends.iloc[0::2].reset_index()

    @property
    def small(self) -> pd.DataFrame:
        """The small-learning-rate rows of `ends`."""
        return self.ends.iloc[1::2].reset_index()

    @property
    def trace_max_error(self) -> float:
        return float(np.nanmax(self.trace[list(TRACE_ERRORS)].to_numpy()))


def model_checks(picture, d: int, n: int, exponents, init_norm: float, draws: int = 1000,
                 sizes=STUDY_SIZES) -> ModelChecks:
    """The lrd_model chapter's checks, at the decay experiment's d, n, γ's and ‖w₀‖ and on the stored 2-D `picture`:
    the valley of minima and the trace check on one training set (seed 0), the interpolators' Monte-Carlo study
    (`draws` teachers per n in `sizes`), κ, the ends of the picture's runs, and the table of checks against the paper (columns
    statement, source, ours, criterion, status)."""
    exponents = tuple(float(g) for g in exponents)
    problem = toy.make_problem((0,), n, d)
    valley = valley_check(problem, exponents)
    study = interpolator_study(d, n, init_norm, draws=draws, sizes=sizes)
    trace = trace_check(problem, exponents)
    one = one_sample_problems(picture)
    ends = picture_ends(picture)
    checks = ModelChecks(d, n, exponents, problem, valley, study, trace, kappa(problem), one, ends,
                         pd.DataFrame())
    checks.table = _checks_table(checks, picture)
    return checks


def model_chapter_checks(picture, decay, draws: int = 1000, sizes=STUDY_SIZES) -> ModelChecks:
    """`model_checks` at the setting of the stored decay result `decay` (its config's d, n, γ's and ‖w₀‖): the one
    call of the lrd_model chapter, which reads both stored results."""
    c = decay.config
    return model_checks(picture, int(c["d"]), int(c["n"]), tuple(c["exponents"]), float(c["init_norm"]), draws=draws,
                        sizes=sizes)


def _checks_table(c: ModelChecks, picture) -> pd.DataFrame:
    d, n, valley, large, small = c.d, c.n, c.valley, c.large, c.small
    at_n = c.study.table
    mean, sem = at_n["simulated mean test loss"], at_n["± s.e."]
    flat_ok = picture.summary["min_norm_is_flattest"]
    errors = c.trace_max_error
    rows = [
        {"statement": "the nonlinear model's landscape mirrors a network's (claim 2): a valley of training minima, "
                      "curved for γ > 0, and a test loss with its minimum near the valley",
         "source": "paper (abstract, claim 2); the network picture is checked in the network chapters",
         "ours": f"valley points fit to < {below(valley[FIT].max(), LOSS_ROUNDING)}; midpoints leave "
                 f"it for γ = 1 (median L̂ {valley[MID].iloc[1]:.3f}) but not for γ = 0; "
                 "the test minimum w* lies on M (noise-free labels)",
         "criterion": "M is flat for γ = 0 and curved for γ > 0 (midpoint L̂ > 1e-6)",
         "status": "reproduced" if valley[MID].iloc[1] > 1e-6 > valley[MID].iloc[0] else "not reproduced"},
        {"statement": "the minimum-norm solution generalizes near-optimally",
         "source": "paper (abstract, claim 3); closed form: book's derivation",
         "ours": f"E L(w_mn) = {mean.iloc[0]:.3f} ± {sem.iloc[0]:.3f} (simulated, n = {n}, d = {d}) vs "
                 f"½(1 − n/d) = {toy.expected_min_norm_test_loss(n, d):.3f}; a random interpolator costs "
                 f"{mean.iloc[1] - mean.iloc[0]:.3f} more",
         "criterion": "every closed form within 3 s.e. of the simulation, and w_mn best on average",
         "status": "reproduced" if at_n["distance from closed form, in s.e."].max() < 3
                   and mean.iloc[0] < mean.iloc[1:].min() else "not reproduced"},
        {"statement": "the flattest training minimum is w_mn, so Hessian-aligned noise drifts toward it",
         "source": "book's derivation (the paper's phase II drift, per the review)",
         "ours": f"closed form = autograd to < {below(errors, REL_ROUNDING)}; κ = {c.kappa:.1f} ≥ 2 + γ "
                 f"at n = {n}; κ = 1 for every n = 1 set (to < "
                 f"{below(max(abs(kappa(q) - 1) for q in c.one_sample), REL_ROUNDING)}; "
                 f"w_mn flattest in {sum(flat_ok)} of {len(flat_ok)})",
         "criterion": f"closed form within 1e-8 of autograd; κ ≥ 2 + γ for every γ ≤ {max(c.exponents):g} at n = {n}",
         "status": "reproduced" if errors < 1e-8 and c.kappa >= 2 + max(c.exponents) else "not reproduced"},
        {"statement": "a large-LR trajectory travels through the valley of minima and ends near the test-loss "
                      "minimum (claim 1, shown on VGG-11)",
         "source": "paper (abstract, claim 1); our 2-D picture of the toy model",
         "ours": f"large LR slides along the valley to a flattest point (≤ "
                 f"{large['distance to nearest flattest point'].max():.2f} away) in {len(large)} of {len(large)} "
                 f"sets; lower test loss than the small LR in "
                 f"{int((large['test loss at the end'] < small['test loss at the end']).sum())} of {len(large)}",
         "criterion": "travel along M: every large-LR run ends within 0.1 of a flattest point; ends nearer the test "
                      "minimum: lower test loss than the small LR in every set",
         "status": ("reproduced" if (large["test loss at the end"] < small["test loss at the end"]).all()
                    else "partly") if (large["distance to nearest flattest point"] < 0.1).all()
                   else "not reproduced"},
    ]
    return pd.DataFrame(rows)


def decay_table(decay) -> pd.DataFrame:
    """Seed-mean final test loss per noise model and exponent γ (rows) and decay step T₁ (columns)."""
    t1s = [int(t) for t in decay["decay_steps"]]
    return pd.DataFrame([{"noise": z, "γ": f"{g:g}",
                          **{f"T₁ = {t:,}": v for t, v in zip(t1s, final(decay, "test_loss", g, z).mean(0))}}
                         for z in [str(z) for z in decay["noises"]] for g in [float(g) for g in decay["exponents"]]])


def efolding_time(decay, exponent: float = 1.0, noise: str = "label") -> tuple[float, int]:
    """An e-folding time τ of the seed-mean final distance to w_mn over the later decay times (a descriptive fit, not
    a claim of the paper): from the first T₁ ≥ max T₁ / 5 to the last T₁, τ = ΔT₁ / ln(ratio of the distances).
    Returns (τ, the first T₁ of the fit); τ is NaN when the last T₁ is the only one in the range."""
    t1s = [int(t) for t in decay["decay_steps"]]
    dist = final(decay, "dist_mn", exponent, noise)  # (seeds, T₁)
    k = next((i for i, t in enumerate(t1s) if t >= t1s[-1] / 5), 0)
    tau = (t1s[-1] - t1s[k]) / np.log(dist[:, k].mean() / dist[:, -1].mean()) if k < len(t1s) - 1 else float("nan")
    return tau, t1s[k]


def linear_control_prediction(decay, n: int, d: int, init_norm: float) -> np.ndarray:
    """γ = 0 (linear regression): every gradient lies in the row space of X, so the end point keeps the ker X part of
    w₀ and its test loss is ½‖(I − P)(w₀ − α*)‖² — per seed, from the problem and start the run used."""
    seeds = tuple(int(s) for s in decay["seeds"])
    problem = toy.make_problem(seeds, n, d)
    w0 = toy.initial_points(seeds, d, init_norm)
    return 0.5 * toy.project_kernel(problem.X, (w0 - problem.alpha_star).unsqueeze(1))[:, 0].square().sum(-1).numpy()


def decay_numbers(decay, n: int, d: int, init_norm: float) -> dict:
    """The numbers the late-decay chapter's text quotes about the linear control (γ = 0; NaN when not stored) and
    the plain and isotropic noise models at γ = 1. g0_pred_err: the largest gap between the γ = 0 runs and
    `linear_control_prediction` (SGD's float64 rounding, ≈ 1e-9)."""
    out = {}
    if 0.0 in [float(g) for g in decay["exponents"]]:
        predicted = linear_control_prediction(decay, n, d, init_norm)
        g0 = {z: final(decay, "test_loss", 0.0, z) for z in [str(z) for z in decay["noises"]]}
        out["g0_pred_err"] = float(max(np.abs(g0[z] - predicted[:, None]).max() for z in ("label", "plain")))
        out["g0_loss_mean"] = float(g0["label"].mean())
        out["g0_iso_0"] = float(g0["isotropic"][:, 0].mean())
        out["g0_iso_max"] = float(g0["isotropic"][:, -1].mean())
    else:
        out.update({key: float("nan") for key in ("g0_pred_err", "g0_loss_mean", "g0_iso_0", "g0_iso_max")})
    plain1 = final(decay, "test_loss", 1.0, "plain")
    iso1 = final(decay, "test_loss", 1.0, "isotropic")
    out.update({
        "plain_0": float(plain1[:, 0].mean()), "plain_later": float(plain1[:, 1:].mean()),
        "plain_spread": float(((plain1[:, 1:].max(1) - plain1[:, 1:].min(1)) / plain1[:, 1:].mean(1)).max()),
        "plain_dist_later": float(final(decay, "dist_mn", 1.0, "plain")[:, 1:].mean()),
        "iso_min": float(iso1.mean(0).min()), "iso_max": float(iso1.mean(0).max()),
        "iso_dist_min": float(final(decay, "dist_mn", 1.0, "isotropic").mean(0).min())})
    return out


# Reference values, not the paper's: the independent numpy check recorded in our paper notes
# (shared/papers/late-lr-decay.md, "Independent check [measured]"), one training set. Of its table, the rows of the
# noise models this book runs are kept (its label noise ±0.1 and plain SGD at η = 0.02 rows are not).
NOTES_SOURCE = ("paper notes (late-lr-decay.md), independent check [measured]: a numpy run of the same protocol on "
                "one training set — d = 50, n = 20, α* ~ N(0, I/d), ‖w₀‖ = 1.5, batch size 1, η = 0.01 for T₁ "
                "steps, then η/10 for 20,000 steps, then 2,000 full-batch GD steps; label noise ±0.3")
NOTES_TEST_LOSS_MN = 0.195  # L(w_mn) of the notes' training set
NOTES_FINAL_TEST_LOSS = {  # (noise, γ): {T₁: final test loss}
    ("label", 1.0): {0: 1.201, 2000: 0.476, 5000: 0.305, 20000: 0.203, 50000: 0.1951},
    ("plain", 1.0): {0: 1.316, 2000: 1.091, 5000: 1.091, 20000: 1.091, 50000: 1.091},
    ("isotropic", 1.0): {0: 1.317, 2000: 1.332, 5000: 1.017, 20000: 1.969, 50000: 1.425},
    ("label", 0.0): {0: 1.108, 2000: 1.108, 5000: 1.108, 20000: 1.108, 50000: 1.108},
}


def notes_comparison(decay) -> pd.DataFrame:
    """Our final test losses next to the notes' check, for each (noise, γ) and T₁ that both have: the notes' value,
    our first seed's, the seed mean and the seed range (formatted to 3 decimals)."""
    exponents = list(decay["exponents"])
    t1s = [int(t) for t in decay["decay_steps"]]
    rows = []
    for (noise, exponent), ref in NOTES_FINAL_TEST_LOSS.items():
        if exponent not in exponents or noise not in [str(z) for z in decay["noises"]]:
            continue
        loss = final(decay, "test_loss", exponent, noise)
        for t, value in ref.items():
            if t in t1s:
                j = t1s.index(t)
                rows.append({"noise": noise, "γ": f"{exponent:g}", "T₁": f"{t:,}", "notes' check": value,
                             f"ours, seed {int(decay['seeds'][0])}": loss[0, j], "ours, seed mean": loss[:, j].mean(),
                             "ours, seed range": f"{loss[:, j].min():.3f}–{loss[:, j].max():.3f}"})
    return pd.DataFrame(rows)
