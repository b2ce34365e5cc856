"""The papers the scorecard checks: which paper a claim belongs to (by its id), and the papers' claims that the book
does not score, with the reason (shown on the scorecard page by `landscape.scorecard.views.untested_markdown`)."""

from __future__ import annotations

from dataclasses import dataclass

# Which paper a claim belongs to: its id's prefix (the longest matching one wins) and the paper's name.
PAPERS = {
    "icml2021": ("dl.", "Dynamical loss functions — Ruiz-Garcia, Zhang, Schoenholz & Liu, ICML 2021"),
    "followup2024": ("dl.followup.", "Dynamical loss functions, the follow-up — Lavin & Ruiz-Garcia, 2024"),
    "aistats2024": ("lrd.", "Late learning-rate decay — Ren, Ma & Ying, AISTATS 2024"),
}


def paper_of(claim_id: str) -> str:
    """The key in PAPERS of the paper a claim belongs to (the longest matching id prefix)."""
    matches = [(len(prefix), key) for key, (prefix, _) in PAPERS.items() if claim_id.startswith(prefix)]
    if not matches:
        raise ValueError(f"claim {claim_id!r} belongs to no paper: its id must start with one of "
                         f"{', '.join(prefix for prefix, _ in PAPERS.values())}")
    return max(matches)[1]


@dataclass(frozen=True)
class UntestedClaim:
    """A claim of one of the papers that the book does not score, and why."""

    paper: str  # a key of PAPERS
    statement: str
    source: str
    reason: str


UNTESTED = (
    UntestedClaim("icml2021", "The CIFAR-10 maps: Myrtle5's training and validation accuracy over (A, T) at its "
                  "under- and overparameterized widths, with their values",
                  "ICML 2021 Sec. 4 (CIFAR-10 figures)",
                  "CIFAR-10 cannot be downloaded on the machines that build the book, and the widths, rates, epochs "
                  "and grids are not known to us; the book tests the same statements on the spiral ([Amplitude and "
                  "period](amp_period.ipynb), [Under- and overparameterized networks](capacity.ipynb)) and on MNIST-1D "
                  "([Image data](image.ipynb)), and keeps a CIFAR-10 preset for readers with the data"),
    UntestedClaim("followup2024", "The follow-up's own numbers: its data set, network sizes, learning rates, the "
                  "DMSE formulas and the validation accuracies they reach",
                  "Lavin & Ruiz-Garcia 2024, figures",
                  "not known to us (only the abstract is); the book tests its statements under its own reading of "
                  "the losses (DMSE1, DMSE2) and says so"),
    UntestedClaim("aistats2024", "The network experiment at the paper's scale: VGG on 5,000 CIFAR-10 images, final "
                  "test loss 0.1955 (decay at 200) → 0.183 (900–1,000)",
                  "authors' notebooks; paper Sec. 5",
                  "CIFAR-10 is not available here and the main path alone is ≈ 32 h on this CPU; the book tests the "
                  "same statistic on MNIST-1D ([Late decay on a network](lrd_network.ipynb)) and keeps a CIFAR-10 "
                  "experiment for a GPU"),
    UntestedClaim("aistats2024", "CIFAR-100 ResNet-18: decaying at epoch 160 instead of 90 raises test accuracy from "
                  "72.3 % to 74.7 %",
                  "authors' repository",
                  "CIFAR-100 is not available here and the run needs a GPU; not in the book"),
    UntestedClaim("aistats2024", "The continuous-time analysis of SGD on the nonlinear model (three phases; the "
                  "long large-LR phase converges to the minimum-norm solution)",
                  "paper Sec. 4 (theorems)",
                  "a mathematical result, not an experiment: the book checks its consequences by simulation on the "
                  "model ([The nonlinear model](lrd_model.ipynb), [Late decay on the nonlinear model](lrd_decay.ipynb)), "
                  "not the proof"),
)
