"""Detection thresholds of the CFAR test: Gamma speckle (``gamma`` mode) and SNAP's Gaussian.

Fully developed speckle makes the intensity of a homogeneous clutter pixel
``σ⁰ · Gamma(L, 1/L)`` (shape ``L`` = ENL = 4.4 for IW GRDH, unit mean); the mean of ``n``
such pixels is ``Gamma(nL, 1/(nL))``, so the threshold on ``T / μ`` for a per-pixel
false-alarm probability ``pfa`` is ``gamma.isf(pfa, a=nL, scale=1/(nL))`` (see the
:mod:`~xview3_pipeline.core.detection.cfar` docstring for the calibration).
"""

from __future__ import annotations

from scipy.stats import gamma as gamma_dist
from scipy.stats import norm

__all__ = ["gamma_pfa", "gamma_threshold", "gaussian_threshold"]


def gamma_threshold(pfa: float, looks: float) -> float:
    """Threshold on ``T / μ`` for a false-alarm probability under Gamma speckle.

    ``T`` is the mean of the target window, ``μ`` the (known) clutter mean; ``T/μ`` follows
    ``Gamma(looks, 1/looks)`` (mean 1), so the threshold is its inverse survival function.

    Args:
        pfa: False-alarm probability per test.
        looks: Effective number of looks of ``T`` (``n · ENL`` for ``n`` independent pixels).

    Returns:
        The ratio ``thr`` with ``P(T/μ > thr) = pfa`` (5.04 for ``pfa = 1e-6``, ``L = 4.4``).
    """
    return float(gamma_dist.isf(pfa, a=looks, scale=1.0 / looks))


def gamma_pfa(threshold: float, looks: float) -> float:
    """False-alarm probability of a ratio threshold under Gamma speckle (inverse of above)."""
    return float(gamma_dist.sf(threshold, a=looks, scale=1.0 / looks))


def gaussian_threshold(pfa: float) -> float:
    """SNAP's ``t`` in ``μ + t σ``: the standard normal inverse survival function.

    Args:
        pfa: Nominal false-alarm probability (``10^-6.5`` → 4.98, SNAP's value).

    Returns:
        ``norm.isf(pfa)``.
    """
    return float(norm.isf(pfa))
