"""Models. An MLP with the initializations that decide the spiral result.

Initializations (`init`):
- "ntk2021": W ~ N(0, 1/fan_in), biases 0 (trainable) — the neural-tangents "standard parameterization"
  the authors' 2021 code used.
- "glorot": Glorot/Xavier normal weights, truncated at ±2 standard deviations and rescaled to variance
  2/(fan_in + fan_out) as JAX's `glorot_normal` draws them, and small random biases N(0, 0.01²) — the authors' 2022
  notebook (JAX).
- "nobias": W ~ N(0, 1/fan_in) and no bias parameters at all — what the authors' notebook silently became
  when its library changed its default (a bias-free ReLU net is positively homogeneous).
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import nn

from .validation import ConfigError, require, require_choice, require_finite, require_int

INITS = ("ntk2021", "glorot", "nobias")
TRUNCATED_NORMAL_STD = 0.87962566103423978  # std of N(0, 1) truncated to [−2, 2]: JAX's variance_scaling divides by it


def truncated_normal(shape, generator: torch.Generator) -> torch.Tensor:
    """N(0, 1) truncated to [−2, 2] (float64, by the inverse CDF, as `jax.random.truncated_normal` draws it)."""
    return torch.nn.init.trunc_normal_(torch.empty(shape, dtype=torch.float64), 0.0, 1.0, -2.0, 2.0,
                                       generator=generator)
DTYPES = {"float32": torch.float32, "float64": torch.float64}
DEVICES = "None, 'cpu', 'cuda', 'cuda:N', 'mps' or a torch.device"


def torch_dtype(name: str) -> torch.dtype:
    require_choice("dtype", name, tuple(DTYPES))
    return DTYPES[name]


def float_dtype(dtype) -> torch.dtype:
    """A torch floating dtype, or its name ('float32', 'float64')."""
    if isinstance(dtype, str):
        return torch_dtype(dtype)
    require(isinstance(dtype, torch.dtype) and dtype.is_floating_point, "dtype",
            "'float32', 'float64' or a torch floating dtype", dtype)
    return dtype


def torch_device(device) -> torch.device | None:
    """None (torch's default), a torch.device, or a device string such as 'cpu' or 'cuda:0' that this machine has."""
    if device is None:
        return None
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device={device!r} is not allowed: device must be {DEVICES}") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r} is not allowed: no CUDA device is available (use 'cpu')")
    return parsed


# ----------------------------------------------------------------------- what every probe needs of a model
@contextlib.contextmanager
def evaluating(model):
    """The model in eval mode; on exit every module's own mode is back, and so is any buffer that changed."""
    if not isinstance(model, nn.Module):
        yield
        return
    modes = [(m, m.training) for m in model.modules()]
    buffers = [(m, name, b, b._version, b.detach().clone()) for m in model.modules()
               for name, b in m._buffers.items() if b is not None]
    for m, _ in modes:
        m.training = False
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training
        for m, name, b, version, saved in buffers:
            if m._buffers.get(name) is not b or b._version != version:
                m._buffers[name] = b
                with torch.no_grad():
                    b.copy_(saved)


def trainable_parameters(model: nn.Module) -> list[torch.Tensor]:
    """The parameters with requires_grad; a model without any is a ConfigError naming `model`."""
    require(isinstance(model, nn.Module), "model", "a torch.nn.Module", type(model).__name__)
    params = list(model.parameters())
    trainable = [p for p in params if p.requires_grad]
    found = f"{type(model).__name__} with no parameters" if not params else \
        f"{type(model).__name__} with all {len(params)} parameter tensors frozen (requires_grad=False)"
    require(len(trainable) > 0, "model", "a model with trainable parameters (requires_grad=True)", found)
    return trainable


class MLP(nn.Sequential):
    """in → [width, ReLU] × depth → out."""

    def __init__(self, in_features: int, width: int, out_features: int, depth: int = 1, init: str = "ntk2021",
                 seed: int = 0, dtype: str = "float64", device=None):
        require_int("in_features", in_features, at_least=1)
        require_int("width", width, at_least=1)
        require_int("out_features", out_features, at_least=1)
        require_int("depth", depth, at_least=1)
        require_choice("init", init, INITS)
        require_int("seed", seed)
        dtype, device = torch_dtype(dtype), torch_device(device)
        sizes = [in_features] + [width] * depth + [out_features]
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b, bias=init != "nobias"))
            if i < depth:
                layers.append(nn.ReLU())
        super().__init__(*layers)
        self.init = init
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for layer in self.linears():
                fan_in, fan_out = layer.in_features, layer.out_features
                if init == "glorot":
                    layer.weight.copy_(truncated_normal(layer.weight.shape, generator)
                                       * (math.sqrt(2.0 / (fan_in + fan_out)) / TRUNCATED_NORMAL_STD))
                else:
                    layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * math.sqrt(1.0 / fan_in))
                if layer.bias is not None:
                    bias_std = 0.01 if init == "glorot" else 0.0
                    layer.bias.copy_(torch.randn(layer.bias.shape, generator=generator) * bias_std)
        self.to(device=device, dtype=dtype)

    def linears(self) -> list[nn.Linear]:
        return [m for m in self if isinstance(m, nn.Linear)]


def num_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class VGG(nn.Module):
    """The late-decay authors' "vgg-small" design in 1-D or 2-D: 3×3 (or 3) convs + ReLU and max-pools, no BatchNorm;
    classifier Linear–ReLU–Dropout(0.5)–Linear–ReLU–Dropout(0.5)–Linear.

    Init as the authors': convs Kaiming-normal (fan_out), linears N(0, 0.01²), biases 0.
    """

    def __init__(self, channels, size: int, dims: int = 1, in_channels: int = 1, hidden: int = 128,
                 num_classes: int = 10, dropout: float = 0.5, seed: int = 0):
        super().__init__()
        require_choice("dims", dims, (1, 2))
        require_int("size", size, at_least=1)
        for name, value in (("in_channels", in_channels), ("hidden", hidden), ("num_classes", num_classes)):
            require_int(name, value, at_least=1)
        require_finite("dropout", dropout, at_least=0.0)
        require(dropout < 1, "dropout", "in [0, 1)", dropout)
        require_int("seed", seed)
        conv, pool = (nn.Conv1d, nn.MaxPool1d) if dims == 1 else (nn.Conv2d, nn.MaxPool2d)
        layers, c_in, input_size = [], in_channels, size
        for c in channels:
            if isinstance(c, str) and c == "M":
                layers.append(pool(2))
                size //= 2
                require(size >= 1, "channels", f"a sequence with at most {input_size.bit_length() - 1} 'M' pools "
                        f"(each halves the size {input_size})", tuple(channels))
            else:
                require_int("channels", c, at_least=1)
                layers += [conv(c_in, c, 3, padding=1), nn.ReLU()]
                c_in = c
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(c_in * size ** dims, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, num_classes))
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, (nn.Conv1d, nn.Conv2d)):
                    fan_out = m.out_channels * math.prod(m.kernel_size)
                    m.weight.copy_(torch.randn(m.weight.shape, generator=generator) * math.sqrt(2.0 / fan_out))
                    m.bias.zero_()
                elif isinstance(m, nn.Linear):
                    m.weight.copy_(torch.randn(m.weight.shape, generator=generator) * 0.01)
                    m.bias.zero_()

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def VGG1d(seed: int = 0) -> VGG:
    """vgg-small sized for MNIST-1D (length-40 signals): conv 16-M-32-M-32-32-M-64-64-M, classifier 128–128–10."""
    return VGG((16, "M", 32, "M", 32, 32, "M", 64, 64, "M"), size=40, dims=1, in_channels=1, seed=seed)


def VGGSmall(seed: int = 0) -> VGG:
    """The authors' vgg-small for 32×32 RGB images (CIFAR-10): 1,250,634 parameters."""
    return VGG((32, "M", 64, "M", 64, 64, "M", 128, 128, "M", 256, 256, "M"), size=32, dims=2, in_channels=3,
               hidden=128, seed=seed)


class Myrtle(nn.Module):
    """A Myrtle5-style CNN (Shankar et al. 2020) whose width is its channel count, in 1-D (MNIST-1D) or 2-D
    (CIFAR-10): conv–ReLU, conv–ReLU, avg-pool 2, conv–ReLU, avg-pool 2, conv–ReLU, avg-pool 2, global average pool,
    dense. 3-wide (3×3) convolutions with zero padding, no normalization layers.

    Initialization: Myrtle's own (Shankar et al. 2020, written in neural-tangents with W_std = √2, b_std = 0 for
    every convolution and the dense read-out): He/Kaiming normal W ~ N(0, 2/fan-in), fan-in = in-channels × kernel
    size (the read-out: width), biases 0 — in the standard parameterization (the weights themselves carry the
    scale), which gives the same network at initialization as Myrtle's NTK parameterization but not the same
    gradient-descent dynamics.
    """

    WEIGHT_GAIN = math.sqrt(2.0)  # W_std of Myrtle: std √(2/fan-in), the He/Kaiming scale for ReLU layers

    POOL_AFTER = (False, True, True, True)

    def __init__(self, width: int, dims: int = 1, in_channels: int = 1, num_classes: int = 10, seed: int = 0,
                 dtype: str = "float32", device=None):
        super().__init__()
        require_int("width", width, at_least=1)
        require_choice("dims", dims, (1, 2))
        require_int("in_channels", in_channels, at_least=1)
        require_int("num_classes", num_classes, at_least=1)
        require_int("seed", seed)
        dtype, device = torch_dtype(dtype), torch_device(device)
        conv = nn.Conv1d if dims == 1 else nn.Conv2d
        self.dims = dims
        self.convs = nn.ModuleList([conv(in_channels if i == 0 else width, width, 3, padding=1) for i in range(4)])
        self.head = nn.Linear(width, num_classes)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for m in list(self.convs) + [self.head]:
                fan_in = m.weight[0].numel()
                std = self.WEIGHT_GAIN / math.sqrt(fan_in)
                m.weight.copy_(torch.randn(m.weight.shape, generator=generator) * std)
                m.bias.zero_()
        self.to(device=device, dtype=dtype)

    def forward(self, x):
        pool = F.avg_pool1d if self.dims == 1 else F.avg_pool2d
        h = x
        for conv, pooled in zip(self.convs, self.POOL_AFTER):
            h = torch.relu(conv(h))
            if pooled:
                h = pool(h, 2)
        return self.head(h.flatten(2).mean(-1))
