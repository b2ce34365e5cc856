"""Shared package of the book: data, models, losses, training, curvature/NTK probes, experiments, results, claims.

The library API for your own training loop (imported on first use, so `import landscape` stays light):

    loss_fn = landscape.DynamicalCrossEntropy(num_classes=C, amplitude=A, period=T)  # drop-in nn.CrossEntropyLoss
    loss_fn(logits, targets); loss_fn.step()                 # Γ(t) advances by one optimizer step
    landscape.hessian_eigenvalues(model, loss_fn, data, k=1)  # data: (inputs, targets) or a DataLoader
    landscape.hessian_trace(model, loss_fn, data); landscape.hessian_spectrum(model, loss_fn, data)
    landscape.empirical_ntk(model, inputs)
"""

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "DynamicalCrossEntropy": "loss_modules",
    "DynamicalMSELoss": "loss_modules",
    "GammaSchedule": "schedule",
    "hessian_eigenvalues": "curvature",
    "hessian_trace": "curvature",
    "hessian_spectrum": "curvature",
    "empirical_ntk": "ntk",
    "ConfigError": "validation",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
