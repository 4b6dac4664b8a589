"""Random draws for the batch augmentations, all from the run's generator.

Numbers are drawn on the generator's own device (a CPU generator cannot fill a CUDA tensor) and
moved to the batch's device; without a generator, torch's default one for that device is used.
"""

from __future__ import annotations

import torch


def uniform(shape: int | tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """Uniform numbers in [0, 1) of ``shape`` on ``device``."""
    source = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=source).to(device)


def normal(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """Standard normal numbers of ``shape`` on ``device``."""
    source = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=source).to(device)


def index(count: int, size: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """``count`` uniform integers in [0, size)."""
    return (uniform(count, generator, device) * size).long().clamp_(max=size - 1)


def gamma(shape: float, candidates: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """One Gamma(``shape``, 1) number as a 0-dim tensor, by Marsaglia and Tsang's method with a fixed number of tries.

    ``torch.distributions`` and ``torch._standard_gamma`` take no generator, so the sampler is
    written out: ``candidates`` proposals are drawn at once and the first accepted one is kept
    (each is accepted with probability over 0.95, as the shape is boosted to ``shape + 1``), so
    the count of draws, and with it the generator's state, does not depend on the values — a
    rerun, a resume and a captured graph all see the same stream. If every proposal were
    rejected (probability under 0.05 ** candidates) the mode of the boosted shape is used.
    """
    d = shape + 1.0 - 1.0 / 3.0
    c = 1.0 / (9.0 * d) ** 0.5
    z = normal((candidates,), generator, device)
    u = uniform((candidates,), generator, device)
    boost = uniform((), generator, device)
    v = (1.0 + c * z) ** 3
    accepted = (z > -1.0 / c) & (torch.log(u) < 0.5 * z * z + d - d * v + d * torch.log(v.clamp(min=1e-30)))
    first = accepted.int().argmax().view(1)
    kept = v.gather(0, first)[0]  # gather, not v[first]: indexing by a 0-dim tensor reads it back to the host
    sample = torch.where(accepted.any(), d * kept, torch.full_like(kept, d))
    # Gamma(a) = Gamma(a + 1) * U ** (1 / a): the boost keeps the method valid below shape 1.
    return sample * boost.clamp(min=1e-30) ** (1.0 / shape)


def beta(alpha: float, generator: torch.Generator | None, device: torch.device, candidates: int = 16) -> torch.Tensor:
    """One Beta(``alpha``, ``alpha``) number as a 0-dim tensor: ``G1 / (G1 + G2)`` of two gamma draws."""
    first = gamma(alpha, candidates, generator, device)
    second = gamma(alpha, candidates, generator, device)
    return first / (first + second).clamp(min=1e-30)
