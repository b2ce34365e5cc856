import io
import contextlib

import numpy as np
import pytest
import torch

from landscape.curvature import HessianOperator, hessian_eigenvalues
from landscape.estimators import lanczos, tridiagonal
from landscape.losses import GammaSchedule, weighted_cross_entropy
from landscape.models import MLP
from landscape.ntk import empirical_ntk, jacobian, mlp_ntk, ntk_from_jacobian, ntk_max_eigenvalue
from landscape.validation import ConfigError
from pyhessian_reference import pyhessian_top_eigenvalues

from single_thread import one_thread  # noqa: F401  (autouse)


def dynamical_criterion(step):
    gamma = torch.as_tensor(GammaSchedule(3, 70.0, 5000).gamma(step))
    return lambda z, y: weighted_cross_entropy(z, y, gamma)


def exact_hessian(model, criterion, x, y):
    return HessianOperator(model, criterion, (x, y)).dense()


def test_exact_hessian_matches_double_autograd(spiral_net, spiral_data):
    small = MLP(2, 4, 3, seed=1)
    crit = dynamical_criterion(1000)
    H = exact_hessian(small, crit, spiral_data.x, spiral_data.y)
    params = list(small.parameters())
    loss = crit(small(spiral_data.x), spiral_data.y)
    g = torch.cat([t.reshape(-1) for t in torch.autograd.grad(loss, params, create_graph=True)])
    rows = [torch.cat([t.reshape(-1) for t in torch.autograd.grad(g[i], params, retain_graph=True)])
            for i in range(g.numel())]
    torch.testing.assert_close(H, torch.stack(rows), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(H, H.T)


@pytest.mark.parametrize("step", [0, 2500])
@pytest.mark.parametrize("method", ["lanczos", "pyhessian"])
def test_top_eigenvalue_estimators_match_the_exact_hessian(spiral_net, spiral_data, method, step):
    """On the 603-parameter Fig. 4 net, for the dynamical loss F at t (Γ = 1 at t = 0, peak emphasis at t = 2500)."""
    crit = dynamical_criterion(step)
    exact = torch.linalg.eigvalsh(exact_hessian(spiral_net, crit, spiral_data.x, spiral_data.y))[-1].item()
    if method == "pyhessian":  # the outside reference (tests only)
        estimate = pyhessian_top_eigenvalues(spiral_net, crit, spiral_data.x, spiral_data.y)[0].item()
    else:
        top = hessian_eigenvalues(spiral_net, crit, (spiral_data.x, spiral_data.y))
        estimate = top.values[0].item()
        assert abs(estimate - exact) <= top.residuals[0].item() + 1e-12 * abs(exact)  # the residual bounds the error
    assert abs(estimate - exact) / abs(exact) <= 1e-4


def test_lanczos_recovers_the_spectrum_of_a_known_matrix():
    torch.manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(40, 40, dtype=torch.float64))
    eig = torch.linspace(-1, 5, 40, dtype=torch.float64)
    A = Q @ torch.diag(eig) @ Q.T
    alpha, beta, basis, residual = lanczos(lambda v: A @ v, 40, 40)
    torch.testing.assert_close(torch.linalg.eigvalsh(tridiagonal(alpha, beta)), eig, rtol=1e-8, atol=1e-8)
    torch.testing.assert_close(basis @ basis.T, torch.eye(len(alpha), dtype=torch.float64), atol=1e-10, rtol=0)
    assert residual.item() == 0.0  # a full Krylov space


def test_pyhessian_wrapper_has_no_side_effects(spiral_net, spiral_data):
    spiral_net.train()
    before = [p.detach().clone() for p in spiral_net.parameters()]
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        pyhessian_top_eigenvalues(spiral_net, dynamical_criterion(0), spiral_data.x, spiral_data.y)
    assert spiral_net.training, "pyhessian left the model in eval mode"
    assert all(p.grad is None for p in spiral_net.parameters()), "pyhessian left gradients behind"
    assert all(torch.equal(a, b) for a, b in zip(before, spiral_net.parameters()))
    assert torch.equal(torch.rand(1), expected_next), "pyhessian consumed the global RNG"
    assert torch.get_default_dtype() == torch.float32
    assert err.getvalue() == ""


def test_pyhessian_wrapper_is_silent_about_warnings(spiral_net, spiral_data, recwarn):
    pyhessian_top_eigenvalues(spiral_net, dynamical_criterion(0), spiral_data.x, spiral_data.y)
    assert len(recwarn) == 0


def test_top_k_are_ordered(spiral_net, spiral_data):
    crit = dynamical_criterion(0)
    data = (spiral_data.x, spiral_data.y)
    exact = hessian_eigenvalues(spiral_net, crit, data, k=3, method="exact").values
    lz = hessian_eigenvalues(spiral_net, crit, data, k=3, lanczos_steps=60).values
    assert exact[0] >= exact[1] >= exact[2]
    torch.testing.assert_close(lz, exact, rtol=1e-4, atol=1e-8)


def test_bad_method_is_named(spiral_net, spiral_data):
    with pytest.raises(ConfigError, match="method"):
        hessian_eigenvalues(spiral_net, dynamical_criterion(0), (spiral_data.x, spiral_data.y), method="power")


def explicit_jacobian(model, x):
    """∂z/∂θ row by row with plain autograd: (n, C, P)."""
    params = list(model.parameters())
    z = model(x)
    rows = []
    for a in range(x.shape[0]):
        per_logit = []
        for k in range(z.shape[1]):
            g = torch.autograd.grad(z[a, k], params, retain_graph=True)
            per_logit.append(torch.cat([t.reshape(-1) for t in g]))
        rows.append(torch.stack(per_logit))
    return torch.stack(rows)


@pytest.mark.parametrize("depth,init", [(1, "ntk2021"), (2, "glorot"), (1, "nobias")])
def test_ntk_closed_form_and_torch_func_match_an_explicit_jacobian_product(spiral_data, depth, init):
    model = MLP(2, 17, 3, depth=depth, init=init, seed=3)
    x = spiral_data.x[:20]
    J = explicit_jacobian(model, x)
    reference = torch.einsum("akp,bkp->ab", J, J) / 3
    torch.testing.assert_close(ntk_from_jacobian(jacobian(model, x)), reference, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(mlp_ntk(model, x), reference, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(empirical_ntk(model, x), reference, rtol=1e-10, atol=1e-10)
    assert ntk_max_eigenvalue(model, x).item() == pytest.approx(torch.linalg.eigvalsh(reference)[-1].item(), rel=1e-10)


def test_ntk_of_a_non_mlp_uses_torch_func(spiral_data):
    model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double()
    x = spiral_data.x[:10]
    J = explicit_jacobian(model, x)
    torch.testing.assert_close(empirical_ntk(model, x), torch.einsum("akp,bkp->ab", J, J) / 3)


# ------------------------------------------------------------ SLQ density, Hutchinson trace, loss along a direction
from landscape.curvature import loss_along  # noqa: E402
from landscape.estimators import exact_density, hutchinson_trace, slq, spectral_density  # noqa: E402


def test_slq_with_a_full_krylov_space_recovers_the_exact_spectrum(spiral_data):
    """On a 51-parameter net: with as many Lanczos steps as parameters, every node is an exact eigenvalue."""
    model = MLP(2, 8, 3, seed=2)
    crit = dynamical_criterion(2500)
    H = exact_hessian(model, crit, spiral_data.x, spiral_data.y)
    exact = torch.linalg.eigvalsh(H)
    op = HessianOperator(model, crit, spiral_data.x, spiral_data.y)
    nodes, weights = slq(op, op.size, vectors=2, steps=op.size, seed=1)
    torch.testing.assert_close(weights.sum(1), torch.ones(2, dtype=torch.float64), rtol=1e-10, atol=1e-10)
    for row in nodes:
        assert (row[:, None] - exact[None]).abs().min(1).values.max() < 1e-8


def test_slq_density_and_moments_match_the_exact_hessian(spiral_net, spiral_data):
    """On the 603-parameter Fig. 4 net: moments (1/n) tr Hᵏ, k = 1, 2, and the smoothed density."""
    crit = dynamical_criterion(2500)
    H = exact_hessian(spiral_net, crit, spiral_data.x, spiral_data.y)
    exact = torch.linalg.eigvalsh(H)
    op = HessianOperator(spiral_net, crit, spiral_data.x, spiral_data.y)
    nodes, weights = slq(op, op.size, vectors=30, steps=60, seed=0)
    for k in (1, 2):
        estimate = (weights * nodes ** k).sum(1).mean()
        assert estimate.item() == pytest.approx((exact ** k).mean().item(), rel=0.15)
    assert nodes.max().item() == pytest.approx(exact.max().item(), rel=1e-6)  # extreme eigenvalues converge fast
    sigma = 0.05 * (exact.max() - exact.min()).item()
    grid = torch.linspace(exact.min().item() - 3 * sigma, exact.max().item() + 3 * sigma, 400, dtype=torch.float64)
    ours, truth = spectral_density(nodes, weights, grid, sigma), exact_density(exact, grid, sigma)
    dx = (grid[1] - grid[0]).item()
    assert (ours.sum() * dx).item() == pytest.approx(1.0, abs=0.02)
    assert ((ours - truth).abs().sum() * dx).item() < 0.25  # L1 distance between the two densities


def test_hutchinson_trace_is_unbiased_and_matches_the_exact_hessian(spiral_net, spiral_data):
    torch.manual_seed(0)
    A = torch.randn(50, 50, dtype=torch.float64)
    A = A + A.T
    estimate, stderr = hutchinson_trace(lambda v: A @ v, 50, samples=4000, seed=3)
    assert abs(estimate - torch.trace(A).item()) < 4 * stderr
    crit = dynamical_criterion(2500)
    H = exact_hessian(spiral_net, crit, spiral_data.x, spiral_data.y)
    op = HessianOperator(spiral_net, crit, spiral_data.x, spiral_data.y)
    estimate, stderr = hutchinson_trace(op, op.size, samples=300, seed=0)
    assert abs(estimate - torch.trace(H).item()) < 4 * stderr
    assert stderr < 0.1 * abs(torch.trace(H).item())
    negative = -torch.eye(5, dtype=torch.float64)  # PyHessian would stop here; ours keeps every sample
    assert hutchinson_trace(lambda v: negative @ v, 5, samples=10)[0].item() == pytest.approx(-5.0)


def test_loss_along_a_direction_evaluates_the_shifted_network(spiral_net, spiral_data):
    """(A finite-difference check of the curvature would be wrong: ReLU kinks.) Against a shifted copy of the net."""
    crit = dynamical_criterion(2500)
    n = sum(p.numel() for p in spiral_net.parameters())
    direction = torch.randn(n, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    before = [p.detach().clone() for p in spiral_net.parameters()]
    f = loss_along(spiral_net, crit, spiral_data.x, spiral_data.y, direction, [0.0, 0.3, -0.7])
    for alpha, value in zip([0.0, 0.3, -0.7], f):
        shifted = MLP(2, 100, 3, seed=0)
        with torch.no_grad():
            i = 0
            for p in shifted.parameters():
                p.add_(alpha * direction[i:i + p.numel()].view_as(p))
                i += p.numel()
        assert value.item() == pytest.approx(crit(shifted(spiral_data.x), spiral_data.y).item(), rel=1e-12)
    for p, q in zip(spiral_net.parameters(), before):
        assert torch.equal(p, q)  # parameters restored


def test_random_vectors_do_not_depend_on_the_cpu_kernel():
    """The Lanczos start vectors and the Rademacher vectors of SLQ and Hutchinson are the same numbers under ATen's
    scalar kernel (where torch's float32 normal sampler, and so a float32 initialization, draws other numbers)."""
    import hashlib
    import os
    import subprocess
    import sys

    code = ("import hashlib, torch; from landscape.estimators import gaussian, rademacher; "
            "g = torch.Generator().manual_seed(3); a = gaussian(g, (3, 603)); b = rademacher(g, (2, 603)); "
            "f = torch.randn(603, generator=torch.Generator().manual_seed(3)); "
            "print(*(hashlib.sha256(t.numpy().tobytes()).hexdigest() for t in (a, b, f)))")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "ATEN_CPU_CAPABILITY": kernel}).stdout.split()
            for kernel in ("default", "avx2")]
    assert runs[0][:2] == runs[1][:2]  # float64 draws: one set of numbers
    assert runs[0][2] != runs[1][2]  # float32 normal draws are not (the check can see a difference)
    from landscape.estimators import gaussian

    here = gaussian(torch.Generator().manual_seed(3), (3, 603))
    assert hashlib.sha256(here.numpy().tobytes()).hexdigest() == runs[0][0]
