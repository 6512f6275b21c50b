"""Score GIFs from pairwise votes: regularised Bradley-Terry (default) or TrueSkill.

Bradley-Terry
    ``P(i beats j) = sigmoid(theta_i - theta_j)``. :func:`fit_bradley_terry` returns the MAP
    estimate under a Gaussian prior, i.e. it minimises exactly the objective of
    ``choix.opt_pairwise(n_items, data, alpha)``::

        alpha * sum(theta**2) + sum over votes of log(1 + exp(-(theta_winner - theta_loser)))

    (prior ``theta ~ N(0, 1 / (2 * alpha))``). choix evaluates that objective, its gradient and
    its Hessian with a Python loop over the votes and a dense ``n x n`` Hessian: on GIFGIF's
    happiness metric alone (107 k votes, 6,170 GIFs) that takes minutes (choix's own GIFGIF
    notebook reports 1 min 43 s). Here the same objective is evaluated with numpy over the
    distinct (winner, loser) pairs and minimised by Newton-CG with Hessian-vector products, which
    takes well under a second a metric; ``tests/test_gifgif_rank.py`` checks that both give the
    same estimate.

    The prior is what stops a GIF with 2 lucky wins and no loss from topping a list (its
    maximum-likelihood strength is infinite). The default ``alpha = 0.5`` is a standard normal
    prior, the scale on which GIFGIF strengths live: with it a GIF at 2-0 against average GIFs
    scores about 0.65, and one at 60-10 about 1.6. "neither" votes carry no order and are ignored.

TrueSkill
    The ``trueskill`` package's model (mu 25, sigma 25/3, beta sigma/2, tau sigma/100), fed the
    votes one by one in file order, "neither" as a draw; the draw probability is the metric's
    observed fraction of "neither" votes. Its factor-graph ``rate_1vs1`` costs ~100 us a vote
    (~2 min for the release), so :func:`fit_trueskill` applies the closed-form two-player update
    (the same ``v``/``w`` functions, from the package's environment), ~20x faster and equal to
    ``rate_1vs1`` to rounding (tested). The score is the conservative ``mu - 3 sigma``
    (``TrueSkill.expose``), which keeps GIFs with few votes (large sigma) off the top. Unlike
    Bradley-Terry, the result depends on the order of the votes.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

#: Default Bradley-Terry regularisation: ``alpha * sum(theta**2)``, prior N(0, 1).
DEFAULT_ALPHA = 0.5


def _aggregate(winners: np.ndarray, losers: np.ndarray, n_items: int):
    """Distinct ``(winner, loser)`` pairs and how often each occurred, as ``(w, l, count)``."""
    keys = winners.astype(np.int64) * n_items + losers.astype(np.int64)
    keys, counts = np.unique(keys, return_counts=True)
    return keys // n_items, keys % n_items, counts.astype(np.float64)


def fit_bradley_terry(
    n_items: int,
    winners: np.ndarray,
    losers: np.ndarray,
    *,
    alpha: float = DEFAULT_ALPHA,
    tol: float = 1e-7,
) -> np.ndarray:
    """MAP Bradley-Terry strengths, shape ``(n_items,)``, from ``(D,)`` winner/loser indices.

    Minimises choix's ``opt_pairwise`` objective (see the module docstring); items without a
    vote get 0 (the prior mean). ``alpha`` must be positive: without a prior an unbeaten item's
    strength is infinite.
    """
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0 (an unbeaten GIF would score +inf), got {alpha}")
    winners = np.asarray(winners)
    losers = np.asarray(losers)
    if winners.shape != losers.shape or winners.ndim != 1:
        raise ValueError(
            f"winners and losers must be (D,) arrays, got {winners.shape}, {losers.shape}"
        )
    if winners.size == 0:
        return np.zeros(n_items)
    w, lo, c = _aggregate(winners, losers, n_items)

    def objective(theta: np.ndarray) -> float:
        # -log_expit(d) = log(1 + exp(-d)), without overflow.
        return float(alpha * theta @ theta - c @ log_expit(theta[w] - theta[lo]))

    def gradient(theta: np.ndarray) -> np.ndarray:
        g = c * expit(-(theta[w] - theta[lo]))  # c * P(loser wins), the "surprise" of each pair
        return 2 * alpha * theta - np.bincount(w, g, n_items) + np.bincount(lo, g, n_items)

    def hessp(theta: np.ndarray, v: np.ndarray) -> np.ndarray:
        p = expit(theta[w] - theta[lo])
        s = c * p * (1.0 - p) * (v[w] - v[lo])
        return 2 * alpha * v + np.bincount(w, s, n_items) - np.bincount(lo, s, n_items)

    result = minimize(
        objective,
        np.zeros(n_items),
        jac=gradient,
        hessp=hessp,
        method="Newton-CG",
        options={"xtol": tol, "maxiter": 200},
    )
    # The objective is strictly convex: Newton-CG "precision loss" endings sit at the optimum.
    return result.x


def fit_trueskill(
    n_items: int,
    left: np.ndarray,
    right: np.ndarray,
    outcome: np.ndarray,
    *,
    draw_probability: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sequential TrueSkill ratings ``(mu, sigma)``, each ``(n_items,)``, from ``(M,)`` votes.

    ``outcome`` is ``+1`` (left won), ``-1`` (right won) or ``0`` (neither: a draw). Votes are
    applied in the given order. ``draw_probability`` defaults to the fraction of draws.
    """
    import trueskill

    left = np.asarray(left)
    right = np.asarray(right)
    outcome = np.asarray(outcome)
    if draw_probability is None:
        draw_probability = float(np.mean(outcome == 0)) if outcome.size else 0.0
    # A draw needs a non-zero draw margin to have any probability under the model.
    if np.any(outcome == 0):
        draw_probability = min(max(draw_probability, 1e-4), 0.9)
    env = trueskill.TrueSkill(draw_probability=draw_probability)
    margin = trueskill.calc_draw_margin(draw_probability, 2, env)
    two_beta_sq = 2.0 * env.beta**2
    tau_sq = env.tau**2
    mu = [float(env.mu)] * n_items
    var = [float(env.sigma) ** 2] * n_items
    v_win, w_win, v_draw, w_draw = env.v_win, env.w_win, env.v_draw, env.w_draw

    for a, b, o in zip(left.tolist(), right.tolist(), outcome.tolist(), strict=True):
        if o < 0:
            a, b = b, a  # a is the winner (or the left GIF of a draw)
        var_a = var[a] + tau_sq  # rating dynamics, as rate_1vs1 applies them
        var_b = var[b] + tau_sq
        c = math.sqrt(two_beta_sq + var_a + var_b)
        t, eps = (mu[a] - mu[b]) / c, margin / c
        v = v_draw(t, eps) if o == 0 else v_win(t, eps)
        try:
            w = w_draw(t, eps) if o == 0 else w_win(t, eps)
        except FloatingPointError:
            # Outside double precision (a huge upset or a far-off draw), trueskill gives up;
            # use the limit instead: w -> 1 for those, w -> 0 for a foregone win.
            w = 0.0 if (o != 0 and t > eps) else 1.0 - 1e-12
        mu[a] += var_a / c * v
        mu[b] -= var_b / c * v
        var[a] = var_a * (1.0 - var_a / c**2 * w)
        var[b] = var_b * (1.0 - var_b / c**2 * w)
    return np.array(mu), np.sqrt(np.array(var))


def trueskill_score(mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """The conservative score ``mu - k * sigma``, ``k = mu0 / sigma0 = 3`` (TrueSkill's expose)."""
    import trueskill

    return mu - (trueskill.MU / trueskill.SIGMA) * sigma
