"""The library's curvature and NTK functions on a model, a loss and data: against the exact Hessian of a small net,
the same numbers from every way of passing the data, and a model's mode and buffers left as they were."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import landscape
from landscape.curvature import HessianOperator
from landscape.estimators import hutchinson_trace
from landscape.models import MLP
from landscape.validation import ConfigError


# ------------------------------------------------------------------ curvature on a model, a loss and data
@pytest.fixture
def small():
    """A 51-parameter net on the spiral, the dynamical loss at peak emphasis of class 1 (Γ_1 ≈ 2.9)."""
    from landscape.data import spiral

    torch.set_num_threads(1)  # a tiny net: one thread is faster, and robust on a shared CPU (restored by conftest)
    data = spiral()
    loss_fn = landscape.DynamicalCrossEntropy(3, 70.0, 50).at(51 + 25)
    model = MLP(2, 8, 3, seed=1)
    H = HessianOperator(model, loss_fn, (data.x, data.y)).dense()
    return model, loss_fn, data.x, data.y, H


def loaders(x, y):
    """The same data as several batches: a DataLoader with an uneven last batch, a shuffled one, a list, a generator."""
    yield "DataLoader", DataLoader(TensorDataset(x, y), batch_size=64)
    yield "shuffled DataLoader", DataLoader(TensorDataset(x, y), batch_size=100, shuffle=True,
                                            generator=torch.Generator().manual_seed(0))
    yield "list", list(zip(x.split(70), y.split(70)))
    yield "generator", ((xb, yb) for xb, yb in zip(x.split(128), y.split(128)))


def test_data_hessian_of_several_batches_is_the_full_batch_hessian(small):
    model, loss_fn, x, y, H = small
    V = torch.randn(H.shape[0], 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    v = V[:, 0]
    for name, data in [("pair", (x, y))] + list(loaders(x, y)):
        data = list(data) if name == "generator" else data  # used more than once below
        op = HessianOperator(model, loss_fn, data)
        torch.testing.assert_close(op(v), H @ v, rtol=1e-12, atol=1e-14, msg=name)
        torch.testing.assert_close(op @ v, H @ v, rtol=1e-12, atol=1e-14, msg=name)
        torch.testing.assert_close(op.matmat(V), H @ V, rtol=1e-12, atol=1e-14, msg=name)  # batched products
        torch.testing.assert_close(op.dense(block=7), H, rtol=1e-12, atol=1e-14, msg=name)


def test_hessian_eigenvalues_match_the_exact_hessian(small):
    model, loss_fn, x, y, H = small
    exact = torch.linalg.eigvalsh(H).flip(0)[:3]
    full = landscape.hessian_eigenvalues(model, loss_fn, (x, y), k=3, lanczos_steps=40)
    torch.testing.assert_close(full.values, exact, rtol=1e-8, atol=0)
    assert full.values.dtype == torch.float64 and full.residuals.shape == (3,)
    assert ((full.values - exact).abs() <= full.residuals + 1e-12).all()  # the residuals bound the errors
    few = landscape.hessian_eigenvalues(model, loss_fn, (x, y), k=3, lanczos_steps=8)
    spectrum = torch.linalg.eigvalsh(H)  # unconverged: each Ritz value has an eigenvalue within its residual
    assert ((few.values[:, None] - spectrum[None]).abs().min(1).values <= few.residuals).all()
    assert few.residuals[0] > 1e-6
    exactly = landscape.hessian_eigenvalues(model, loss_fn, (x, y), k=3, method="exact")
    torch.testing.assert_close(exactly.values, exact, rtol=1e-12, atol=0)
    assert torch.equal(exactly.residuals, torch.zeros(3, dtype=torch.float64))
    for name, data in loaders(x, y):
        top = landscape.hessian_eigenvalues(model, loss_fn, data, k=3, lanczos_steps=40)
        torch.testing.assert_close(top.values, full.values, rtol=1e-10, atol=0, msg=name)  # same start vector


def test_hessian_trace_matches_the_exact_trace(small):
    model, loss_fn, x, y, H = small
    exact = torch.trace(H).item()
    by_dense = landscape.hessian_trace(model, loss_fn, (x, y), method="exact")
    assert by_dense.value.item() == pytest.approx(exact, rel=1e-12) and by_dense.stderr.item() == 0.0
    full = landscape.hessian_trace(model, loss_fn, (x, y), samples=400, seed=0)
    assert full.value.dtype == torch.float64 and full.value.shape == ()
    assert abs(full.value - exact) < 4 * full.stderr and full.stderr < 0.1 * exact
    few = landscape.hessian_trace(model, loss_fn, (x, y), samples=20, seed=0)
    op = HessianOperator(model, loss_fn, x, y)  # blocks of vectors through matmat: the same vectors as one by one
    one_by_one = hutchinson_trace(lambda v: op(v), op.size, 20, seed=0)
    torch.testing.assert_close(few.value, one_by_one[0], rtol=1e-12, atol=0)
    torch.testing.assert_close(few.stderr, one_by_one[1], rtol=1e-9, atol=0)
    blocks = hutchinson_trace(op, op.size, 20, seed=0, matmat=op.matmat, block=7)
    torch.testing.assert_close(blocks[0], one_by_one[0], rtol=1e-12, atol=0)
    for name, data in loaders(x, y):
        estimate = landscape.hessian_trace(model, loss_fn, data, samples=20, seed=0)
        torch.testing.assert_close(estimate.value, few.value, rtol=1e-10, atol=0, msg=name)  # same vectors
        torch.testing.assert_close(estimate.stderr, few.stderr, rtol=1e-8, atol=0, msg=name)
    batched = list(loaders(x, y))[0][1]
    assert landscape.hessian_trace(model, loss_fn, batched, method="exact").value.item() == pytest.approx(exact,
                                                                                                         rel=1e-12)


def test_hessian_spectrum_matches_the_exact_spectrum(small):
    """With as many Lanczos steps as parameters every node is an exact eigenvalue; with fewer, the smoothed density
    and the first moment are close."""
    from landscape.estimators import exact_density

    model, loss_fn, x, y, H = small
    exact = torch.linalg.eigvalsh(H)
    n = H.shape[0]
    full = landscape.hessian_spectrum(model, loss_fn, (x, y), vectors=2, steps=n, seed=1)
    for row in full.nodes:
        assert (row[:, None] - exact[None]).abs().min(1).values.max() < 1e-8
    spectrum = landscape.hessian_spectrum(model, loss_fn, (x, y), vectors=30, steps=20, seed=0)
    assert spectrum.nodes.shape == (30, 20)
    sigma = 0.05 * (exact.max() - exact.min()).item()
    grid = torch.linspace(exact.min().item() - 3 * sigma, exact.max().item() + 3 * sigma, 400, dtype=torch.float64)
    dx = (grid[1] - grid[0]).item()
    density = spectrum.density(grid, sigma)
    assert (density.sum() * dx).item() == pytest.approx(1.0, abs=0.02)
    assert ((density - exact_density(exact, grid, sigma)).abs().sum() * dx).item() < 0.25
    # the first moment is Hutchinson's estimate of tr H / n from the same Rademacher vectors
    hutchinson = landscape.hessian_trace(model, loss_fn, (x, y), samples=30, seed=0).value.item()
    assert (spectrum.weights * spectrum.nodes).sum(1).mean().item() * n == pytest.approx(hutchinson, rel=1e-8)
    for name, data in loaders(x, y):
        other = landscape.hessian_spectrum(model, loss_fn, data, vectors=3, steps=20, seed=0)
        torch.testing.assert_close(other.nodes, spectrum.nodes[:3], rtol=1e-8, atol=1e-10, msg=name)
        torch.testing.assert_close(other.weights, spectrum.weights[:3], rtol=1e-6, atol=1e-9, msg=name)


def test_sum_reduction_gives_the_hessian_of_the_total_loss(small):
    model, _, x, y, H = small
    loss_sum = landscape.DynamicalCrossEntropy(3, 70.0, 50, reduction="sum").at(51 + 25)
    data = DataLoader(TensorDataset(x, y), batch_size=64)
    top = landscape.hessian_eigenvalues(model, loss_sum, data, k=1, method="exact").values
    assert top.item() == pytest.approx(300 * torch.linalg.eigvalsh(H)[-1].item(), rel=1e-12)


def test_plain_losses_and_callables_work_too(small):
    model, _, x, y, _ = small
    plain = nn.CrossEntropyLoss()
    H = HessianOperator(model, plain, (x, y)).dense()
    data = DataLoader(TensorDataset(x, y), batch_size=64)
    top = landscape.hessian_eigenvalues(model, lambda z, t: F.cross_entropy(z, t), data, lanczos_steps=40).values
    assert top.item() == pytest.approx(torch.linalg.eigvalsh(H)[-1].item(), rel=1e-8)
    assert landscape.hessian_trace(model, plain, data, method="exact").value.item() == pytest.approx(
        torch.trace(H).item(), rel=1e-12)


def test_bad_curvature_arguments_name_the_field(small):
    model, loss_fn, x, y, _ = small
    cases = [
        (lambda: landscape.hessian_eigenvalues(model, loss_fn, 5), "data"),
        (lambda: landscape.hessian_eigenvalues(model, loss_fn, [x, y, y]), "data"),
        (lambda: landscape.hessian_eigenvalues(model, loss_fn, []), "data"),
        (lambda: landscape.hessian_eigenvalues(model, loss_fn, (x, y), k=0), "k"),
        (lambda: landscape.hessian_eigenvalues(model, loss_fn, (x, y), method="power"), "method"),
        (lambda: landscape.hessian_eigenvalues(model, nn.CrossEntropyLoss(reduction="none"), (x, y)),
         "loss_fn.reduction"),
        (lambda: landscape.hessian_eigenvalues(lambda v: v, loss_fn, (x, y)), "model"),
        (lambda: landscape.hessian_trace(model, loss_fn, (x, y), samples=0), "samples"),
        (lambda: landscape.hessian_spectrum(model, loss_fn, (x, y), vectors=0), "vectors"),
        (lambda: landscape.hessian_spectrum(model, loss_fn, (x, y), steps=0), "steps"),
        (lambda: landscape.empirical_ntk(model, [1.0, 2.0]), "inputs"),
        (lambda: landscape.hessian_eigenvalues(model, loss_fn, (x, y), lanczos_steps=0), "lanczos_steps"),
        (lambda: landscape.hessian_eigenvalues(model, loss_fn, (x, y), k=52), "k"),  # 51 parameters
        (lambda: landscape.hessian_trace(model, loss_fn, (x, y), samples=1), "samples"),  # no standard error
        (lambda: landscape.hessian_eigenvalues(nn.ReLU(), loss_fn, (x, y)), "model"),  # no parameters
        (lambda: landscape.hessian_eigenvalues(frozen, loss_fn, (x, y)), "model"),  # all frozen
        (lambda: landscape.hessian_trace(nn.Sequential(), loss_fn, (x, y)), "model"),
    ]
    frozen = MLP(2, 8, 3, seed=1).requires_grad_(False)
    for call, field in cases:
        with pytest.raises(ConfigError, match=rf"^{field}="):
            call()


def test_empirical_ntk_is_exported_and_matches_the_jacobian(small):
    from landscape.ntk import jacobian, ntk_from_jacobian

    model, _, x, _, _ = small
    torch.testing.assert_close(landscape.empirical_ntk(model, x[:20]), ntk_from_jacobian(jacobian(model, x[:20])),
                               rtol=1e-10, atol=1e-12)


# -------------------------------------------------------------------- eval mode: one function, state untouched
def stochastic_nets():
    """Dropout and batch norm, both in train mode: their Hessian depends on the mode, and batch norm's state moves."""
    torch.manual_seed(0)
    dropout = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3)).double()
    batchnorm = nn.Sequential(nn.Linear(2, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3)).double()
    with torch.no_grad():  # running statistics that are not the defaults
        batchnorm[1].running_mean.uniform_(-0.5, 0.5)
        batchnorm[1].running_var.uniform_(0.5, 2.0)
    return {"dropout": dropout, "batch norm": batchnorm}


def state_of(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", ["dropout", "batch norm"])
def test_curvature_is_that_of_the_model_in_eval_mode_and_leaves_its_state(name, small):
    _, loss_fn, x, y, _ = small
    model = stochastic_nets()[name].train()
    before = state_of(model)
    batches = DataLoader(TensorDataset(x, y), batch_size=64)
    reference = model.eval()
    H = HessianOperator(reference, loss_fn, (x, y)).dense()
    model.train()
    exact = torch.linalg.eigvalsh(H).flip(0)[:2]
    calls = [landscape.hessian_eigenvalues(model, loss_fn, (x, y), k=2, lanczos_steps=60).values for _ in range(2)]
    calls.append(landscape.hessian_eigenvalues(model, loss_fn, batches, k=2, lanczos_steps=60).values)
    for values in calls:  # the same numbers every call (no dropout draws), those of the eval-mode model
        torch.testing.assert_close(values, exact, rtol=1e-8, atol=1e-12)
    trace = landscape.hessian_trace(model, loss_fn, batches, method="exact").value
    assert trace.item() == pytest.approx(torch.trace(H).item(), rel=1e-10)
    landscape.hessian_spectrum(model, loss_fn, batches, vectors=2, steps=5)
    landscape.empirical_ntk(model, x[:10])
    assert model.training and all(m.training for m in model.modules())
    after = state_of(model)
    assert after.keys() == before.keys()
    for key in before:  # running statistics and num_batches_tracked included
        assert torch.equal(after[key], before[key]), key


def test_modes_of_single_modules_are_restored(small):
    _, loss_fn, x, y, _ = small
    model = stochastic_nets()["batch norm"].train()
    model[1].eval()  # a mixed model: batch norm in eval mode, the rest training
    landscape.hessian_eigenvalues(model, loss_fn, (x, y))
    assert model.training and model[0].training and not model[1].training


def test_ntk_of_stochastic_models_is_the_eval_mode_kernel_and_unsupported_models_are_named(small):
    _, _, x, _, _ = small
    for name, model in stochastic_nets().items():
        eval_kernel = landscape.empirical_ntk(model.eval(), x[:12])
        torch.testing.assert_close(landscape.empirical_ntk(model.train(), x[:12]), eval_kernel, msg=name)

    class Recurrent(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru, self.head = nn.GRU(2, 4, batch_first=True), nn.Linear(4, 3)

        def forward(self, x):
            return self.head(self.gru(x.unsqueeze(1))[0][:, -1])

    class Named(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(2, 3)

        def forward(self, x):
            return {"logits": self.linear(x)}

    for model in (Recurrent().double(), Named().double()):
        with pytest.raises(ConfigError, match=rf"^model=.*{type(model).__name__}.* is not allowed: model must be"):
            landscape.empirical_ntk(model, x[:5])


def test_an_ensembles_operator_is_every_members_own_hessian(small):
    """Rows (E, n): member e's product with its own Hessian; eigenvalues, trace and spectrum carry the member axis."""
    from landscape.ensemble import EnsembleMLP
    from landscape.losses import per_member_losses

    _, _, x, y, _ = small
    ensemble = EnsembleMLP.init(2, 5, 3, seeds=[0, 1])
    gamma = torch.as_tensor(landscape.GammaSchedule(3, 30.0, 20).gammas([4, 12]))
    objective = lambda z, t: per_member_losses("dce", z, t, gamma)[0]
    op = HessianOperator(ensemble, objective, (x, y))
    dense = op.dense()
    assert op.members == 2 and dense.shape == (2, op.size, op.size)
    for e in range(2):
        member = lambda z, t, g=gamma[e]: per_member_losses("dce", z[None], t, g[None])[0][0]
        H = HessianOperator(ensemble.member(e), member, (x, y)).dense()
        torch.testing.assert_close(dense[e], H, rtol=1e-10, atol=1e-12)
        top = landscape.hessian_eigenvalues(ensemble, objective, (x, y), k=2, lanczos_steps=op.size)
        torch.testing.assert_close(top.values[e], torch.linalg.eigvalsh(H).flip(0)[:2], rtol=1e-8, atol=1e-10)
        trace = landscape.hessian_trace(ensemble, objective, (x, y), method="exact").value
        assert trace[e].item() == pytest.approx(torch.trace(H).item(), rel=1e-10)
    estimate = landscape.hessian_trace(ensemble, objective, (x, y), samples=10)
    spectrum = landscape.hessian_spectrum(ensemble, objective, (x, y), vectors=3, steps=6)
    assert estimate.value.shape == estimate.stderr.shape == (2,) and spectrum.nodes.shape == (2, 3, 6)
