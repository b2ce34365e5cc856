"""The nonlinear toy model of Ren, Ma & Ying (AISTATS 2024): its losses, minima manifold, Hessian trace and SGD.

The paper's exponent γ is `exponent` in the code (`gamma` is the dynamical loss's class weights Γ elsewhere in the
package). What is the paper's and what is the book's reading:

- **Paper** (abstract and a third-party review): the model f_w(x) = ‖w‖^γ wᵀx with w ∈ ℝ^d, i.e. a linear predictor
  α = φ(w) = ‖w‖^γ w reparameterized so that γ plays the role of depth; squared loss; Gaussian inputs; an extended
  large-learning-rate phase of SGD steers w toward the minimum-norm solution of the training loss.
- **Book's reading** (our own derivation; the paper's exact setting is not verified here): teacher–student data
  x ~ N(0, I_d), α* ~ N(0, I/d), y = α*ᵀx (noise-free), n < d samples; train loss L̂(w) = (1/2n)‖Xφ(w) − y‖²;
  test (population) loss L(w) = ½‖φ(w) − α*‖²; minima manifold M = {w : Xφ(w) = y} = φ⁻¹(α_mn + ker X);
  w_mn = φ⁻¹(X⁺y) is the point of M with the smallest ‖w‖; the Hessian trace on M depends only on r = ‖w‖ and, when
  ‖X‖_F² ‖α_mn‖² ≥ (2 + γ)‖y‖², is smallest at w_mn, so noise that pushes toward flat minima (label noise) drifts
  along M toward w_mn. The three SGD noise models of `engine` are the book's choice: the paper's noise model is open.

Shapes: S problems (one per seed) × M variants per problem. Points are (S, M, d); X is (S, n, d); y is (S, n);
α* and α_mn are (S, d); γ broadcasts to (S, M). Everything is torch (float64 by default) on any device.

The modules, by job (all re-exported here, so `from landscape.topics.lrd_toy import model as toy` reaches them):
`core` — φ, the losses, the minimum-norm solution and the closed-form curvature; `problems` — seeded
teacher–student problems and starting points; `engine` — the SGD engine (`sgd`, `gd_polish`, `Variants`,
`Schedule`, `Recording`, `SGDLog`); `picture` — the 2-D picture's grids and valley.
"""

from .core import (expected_min_norm_test_loss, flattest_radius, full_trace, gauss_newton_trace, kernel_basis,
                   manifold_trace, min_norm_radius, min_norm_solution, phi, phi_inv, project_kernel, residuals,
                   sample_interpolators, test_loss, train_loss)
from .engine import (CURVES, NOISE_BLOCK, NOISES, SAVE_EVERY, Recording, Schedule, SGDLog, Variants, gd_polish,
                     measure, noise_block, sgd)
from .picture import flattest_points, loss_grid, valley_curve
from .problems import DATA_STREAM, INIT_STREAM, NOISE_STREAM, Problem, initial_points, make_problem

__all__ = ["CURVES", "DATA_STREAM", "INIT_STREAM", "NOISE_BLOCK", "NOISES", "NOISE_STREAM", "Problem", "Recording",
           "SAVE_EVERY", "SGDLog", "Schedule", "Variants", "expected_min_norm_test_loss", "flattest_points",
           "flattest_radius", "full_trace", "gauss_newton_trace", "gd_polish", "initial_points", "kernel_basis",
           "loss_grid", "make_problem", "manifold_trace", "measure", "min_norm_radius", "min_norm_solution",
           "noise_block", "phi", "phi_inv", "project_kernel", "residuals", "sample_interpolators", "sgd",
           "test_loss", "train_loss", "valley_curve"]
