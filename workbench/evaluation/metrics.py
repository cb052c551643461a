"""Distribution metrics over classifier embeddings and posteriors (numpy only)."""

from __future__ import annotations

import numpy as np


def _sqrtm_psd(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two embedding sets (N, D): the paper's FD/FAD form."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_a = _sqrtm_psd(ca)
    cross = _sqrtm_psd(root_a @ cb @ root_a)
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(ca) + np.trace(cb) - 2 * np.trace(cross))


def mean_kl(p_ref: np.ndarray, p_gen: np.ndarray, eps: float = 1e-8) -> float:
    """Mean KL(reference || generated) of paired class posteriors (the paper's KL, per prompt)."""
    p, q = np.clip(p_ref, eps, 1), np.clip(p_gen, eps, 1)
    return float(np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=1)))


def inception_score(p: np.ndarray, eps: float = 1e-8) -> float:
    """exp(E_x KL(p(y|x) || p(y))): high when clips are confidently classified and varied."""
    marginal = p.mean(0, keepdims=True)
    return float(np.exp(np.mean(np.sum(p * (np.log(p + eps) - np.log(marginal + eps)), axis=1))))
