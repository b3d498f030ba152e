"""Kernel linear algebra that keeps the information float64 would round away (MATH.md §5, §7).

A training kernel is handled in the normalised *rank-one-plus-deviation* form

    K̂(X, X) = v vᵀ + τ B_X,      K̂(Z, X) = u vᵀ + τ B_ZX,      τ = 10^log10_tau,

the deviation representation of ``core/kernels.py`` with v = √g (train diagonal), u = √g on
the test inputs and B = −E (minus the Cauchy–Schwarz deficit). The true kernel is 10^s · K̂;
every quantity here is computed in normalised units and the scale is applied through
log10 exponents, never by forming 10^s.

Two regimes:

- **dense**: τ is not small against v vᵀ (chaotic phase, shallow networks). K̂ is formed and
  factored directly: Cholesky, or where K̂ is singular to float64 an eigendecomposition with
  a pseudo-inverse cutoff (the t → ∞ limit of the gradient flow on the resolved modes; a
  jittered Cholesky would be a ridge solution instead, off by about jitter/λ_min).
- **structured**: τ‖B‖ ≪ ‖v‖² (ordered phase, deep networks, down to τ = 0, the infinite-depth
  kriging limit). A Householder reflection H maps v to e₁; in that basis
  H K̂ H = [[a, τ bᵀ], [τ b, τ C]] and the small eigenvalues are τ × eig(a matrix built from
  C), resolved to the relative accuracy of C rather than of ‖K̂‖. No 10^t is ever added to
  a number of order one.

Regularisation adds λ̂·I (normalised units) to K̂(X, X).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.linalg.lapack

FloatArray = np.ndarray

_EPS = float(np.finfo(np.float64).eps)
_MAX_EXP10 = 300.0
# Structured when τ·‖C‖_F ≤ a·_GAP and τ ≤ _TAU_DENSE: the rank-one mode is then separated.
_GAP = 1.0 / 16.0
_TAU_DENSE = 1e-2


def pow10(exponent: float) -> float:
    """10^exponent, 0.0 below the float64 range and clipped to 1e300 above it."""
    if exponent == -math.inf or exponent < -_MAX_EXP10 - 30:
        return 0.0
    return float(10.0 ** min(exponent, _MAX_EXP10))


def log10_or_neg_inf(value: float) -> float:
    return math.log10(value) if value > 0 else -math.inf


def flow_gain(values: FloatArray, log10_units: FloatArray, log10_eta_t: float) -> FloatArray:
    """1 − exp(−η t λ) for λ = values · 10^log10_units (λ ≥ 0; negatives count as 0).

    log10_eta_t = log10(η t) in the same normalised units; +inf means t = ∞ (gain 1).
    """
    lam = np.maximum(values, 0.0)
    if log10_eta_t == math.inf:
        return np.where(lam > 0, 1.0, 0.0)
    if log10_eta_t == -math.inf:
        return np.zeros_like(lam)
    exponent = np.minimum(log10_eta_t + log10_units, _MAX_EXP10)
    x = lam * np.power(10.0, exponent)
    return -np.expm1(-x)


def flow_factor(values: FloatArray, log10_units: FloatArray, log10_eta_t: float) -> FloatArray:
    """(1 − exp(−η t λ)) / λ̃ with λ = λ̃ · 10^log10_units; the limit η t·10^units at λ = 0.

    Written with expm1 so that small η t λ keeps its digits. log10_eta_t = +inf gives 1/λ̃
    (and 0 for λ̃ = 0: the pseudo-inverse).
    """
    lam = np.maximum(values, 0.0)
    if log10_eta_t == math.inf:
        safe = np.where(lam > 0, lam, 1.0)
        return np.where(lam > 0, 1.0 / safe, 0.0)
    if log10_eta_t == -math.inf:
        return np.zeros_like(lam)
    exponent = np.minimum(log10_eta_t + log10_units, _MAX_EXP10)
    scale = np.power(10.0, exponent)
    x = lam * scale
    small = x < 1e-8
    safe_x = np.where(small, 1.0, x)
    ratio = np.where(small, 1.0 - x / 2.0, -np.expm1(-safe_x) / safe_x)
    return ratio * scale


def cholesky_rcond(cholesky_factor: FloatArray, norm1: float) -> float:
    """LAPACK's estimate of 1/κ₁ from a lower Cholesky factor (O(n²), within a factor ~n)."""
    if cholesky_factor.size == 0 or norm1 <= 0:
        return 1.0
    rcond, info = scipy.linalg.lapack.dpocon(cholesky_factor, norm1, uplo="L")
    return float(rcond) if info == 0 and rcond > 0 else 0.0


def well_posed(cholesky_factor: FloatArray, scale: float) -> bool:
    """A Cholesky factor whose smallest pivot² is above n·eps·scale (else: numerically
    singular — the solve would amplify rounding; the caller uses the eigh pseudo-inverse)."""
    pivots = np.diag(cholesky_factor)
    if pivots.size == 0:
        return True
    return bool(np.all(pivots > 0) and np.min(pivots) ** 2 > pivots.size * _EPS * scale)


@dataclass(frozen=True)
class DeviationKernel:
    """Normalised training/test kernel blocks: K̂(X,X) = v vᵀ + τ B_X, K̂(Z,X) = u vᵀ + τ B_ZX."""

    v: FloatArray  # [n] > 0
    u: FloatArray  # [m]
    b_train: FloatArray  # [n, n] symmetric
    b_cross: FloatArray  # [m, n]
    log10_tau: float  # may be -inf (the infinite-depth limit)

    @property
    def tau(self) -> float:
        return pow10(self.log10_tau)

    def dense_train(self) -> FloatArray:
        return np.outer(self.v, self.v) + self.tau * self.b_train

    def dense_cross(self) -> FloatArray:
        return np.outer(self.u, self.v) + self.tau * self.b_cross

    @staticmethod
    def from_dense(k_train: FloatArray, k_cross: FloatArray) -> DeviationKernel:
        """A plain kernel as a deviation kernel with v = 0 (always solved densely)."""
        n, m = k_train.shape[0], k_cross.shape[0]
        return DeviationKernel(np.zeros(n), np.zeros(m), k_train, k_cross, 0.0)


@dataclass(frozen=True)
class Spectrum:
    """Eigenvalues λ_i = values_i · 10^log10_units_i (normalised units), ascending.

    ``resolved`` is False for eigenvalues at float64's noise level (their true value is
    smaller than ``noise`` and not known).
    """

    values: FloatArray
    log10_units: FloatArray
    resolved: np.ndarray
    noise: float  # absolute noise level, in units of 10^noise_log10_unit
    noise_log10_unit: float

    def log10_values(self) -> FloatArray:
        with np.errstate(divide="ignore"):
            return np.where(
                self.values > 0, np.log10(np.where(self.values > 0, self.values, 1.0)), -np.inf
            ) + np.where(self.values > 0, self.log10_units, 0.0)


@dataclass
class KernelSolver:
    """Factor a normalised training kernel once; predict at any set of training times.

    ``reg`` is λ̂ (normalised units) added to K̂(X, X). ``solver`` records what was actually
    done (for the warnings of a prediction).
    """

    kernel: DeviationKernel
    reg: float = 0.0
    solver: str = ""
    log10_condition_estimate: float | None = None  # from the last Cholesky (LAPACK pocon)
    _eig: tuple[FloatArray, ...] | None = None
    _structured: _Householder | None = None
    _decomposition: tuple[FloatArray, float, FloatArray, FloatArray] | None = None

    def __post_init__(self) -> None:
        k = self.kernel
        if np.any(k.v != 0) and k.tau <= _TAU_DENSE:
            house = _Householder.build(k)
            if house.separated():
                self._structured = house

    @property
    def structured(self) -> bool:
        return self._structured is not None

    # ----------------------------------------------------------------- spectra
    def spectrum(self) -> Spectrum:
        """Eigenvalues of K̂(X, X) + λ̂ I, with their float64 resolution."""
        if self._structured is None:
            lam, _ = self._dense_eig()  # the eigenvectors serve the finite times after it
            n = lam.size
            noise = n * _EPS * max(float(np.max(np.abs(lam))), 0.0)
            return Spectrum(lam, np.zeros(n), lam > noise, noise, 0.0)
        house = self._structured
        big, _, mu, log10_small = house.eig(self.reg, self._decomposed())
        values = np.concatenate([mu, [big]])
        units = np.concatenate([np.full(mu.size, log10_small), [0.0]])
        noise = house.mu_noise()
        rho = house._small_units(self.reg)[1]
        resolved = np.concatenate([mu > rho * noise, [True]])
        return Spectrum(values, units, resolved, noise, house.log10_tau)

    # ---------------------------------------------------------- predictions
    def predict(self, y: FloatArray, log10_eta_t: list[float]) -> tuple[FloatArray, FloatArray]:
        """Means on the test and training inputs for each log10(η t) (+inf: t = ∞).

        y is [n, k]; returns ([len(t), m, k], [len(t), n, k]) in the units of y. t = ∞ uses
        the Cholesky route; finite t one eigendecomposition for all of them.
        """
        m, n, k = self.kernel.u.size, y.shape[0], y.shape[1]
        mean = np.zeros((len(log10_eta_t), m, k))
        train = np.zeros((len(log10_eta_t), n, k))
        finite = [i for i, lt in enumerate(log10_eta_t) if lt != math.inf]
        for i, lt in enumerate(log10_eta_t):
            if lt == math.inf:
                mean[i], train[i] = self._solve_inf(y)
        if finite:
            means, trains = self._flow(y, [log10_eta_t[i] for i in finite])
            mean[finite], train[finite] = means, trains
        return mean, train

    # -------------------------------------------------------------- t = ∞
    def _solve_inf(self, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        if self._structured is not None:
            solved = self._structured.solve(y, self.reg)
            if solved is not None:
                estimate = solved[2]
                self.log10_condition_estimate = estimate if math.isfinite(estimate) else None
                self._note_solver("structured Cholesky")
                return solved[0], solved[1]
            self._note_solver("structured eigh pseudo-inverse")
            means, trains = self._flow(y, [math.inf])
            return means[0], trains[0]
        k_train = self.kernel.dense_train()
        k_cross = self.kernel.dense_cross()
        a = k_train + self.reg * np.eye(k_train.shape[0])
        scale = float(np.mean(np.diag(a))) if a.size else 1.0
        try:
            factor = scipy.linalg.cho_factor(a, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            factor = None
        if factor is not None and well_posed(factor[0], scale):
            alpha = scipy.linalg.cho_solve(factor, y, check_finite=False)
            if np.all(np.isfinite(alpha)):
                self._note_solver("Cholesky")
                self.log10_condition_estimate = -log10_or_neg_inf(
                    cholesky_rcond(factor[0], float(np.max(np.abs(a).sum(axis=0))))
                )
                # K α = y − λ̂ α exactly: no cancellation against a large α
                return k_cross @ alpha, y - self.reg * alpha
        self._note_solver("eigh pseudo-inverse (the kernel is singular to float64)")
        means, trains = self._flow(y, [math.inf])
        return means[0], trains[0]

    def _decomposed(self) -> tuple[FloatArray, float, FloatArray, FloatArray]:
        assert self._structured is not None
        if self._decomposition is None:
            self._decomposition = self._structured.decompose()
        return self._decomposition

    def _note_solver(self, name: str) -> None:
        if name not in self.solver.split("; "):
            self.solver = name if not self.solver else f"{self.solver}; {name}"

    # -------------------------------------------------------------- finite t
    def _dense_eig(self) -> tuple[FloatArray, FloatArray]:
        if self._eig is None:
            a = self.kernel.dense_train() + self.reg * np.eye(self.kernel.v.size)
            lam, vec = scipy.linalg.eigh(a, check_finite=False)
            self._eig = (lam, vec)
        return self._eig[0], self._eig[1]

    def _flow(self, y: FloatArray, log10_eta_t: list[float]) -> tuple[FloatArray, FloatArray]:
        if self._structured is not None:
            return self._structured.flow(y, self.reg, log10_eta_t, self._decomposed())
        lam, vec = self._dense_eig()
        noise = lam.size * _EPS * max(float(np.max(np.abs(lam))), 0.0)
        resolved = lam > noise
        lam = np.where(resolved, lam, 0.0)
        coeff = vec.T @ y
        k_cross_vec = self.kernel.dense_cross() @ vec
        means, trains = [], []
        zeros = np.zeros(lam.size)
        for lt in log10_eta_t:
            # a null mode v of a PSD kernel has K(Z, X) v = 0: what float64 leaves of it is
            # rounding, which η t (the flow factor at λ = 0) would amplify without bound
            phi = np.where(resolved, flow_factor(lam, zeros, lt), 0.0)
            gain = flow_gain(lam, zeros, lt)
            means.append(k_cross_vec @ (phi[:, None] * coeff))
            trains.append(vec @ (gain[:, None] * coeff))
        return np.array(means), np.array(trains)


@dataclass(frozen=True)
class _Householder:
    """The structured form H K̂ H = [[a, τ bᵀ], [τ b, τ C]] with H v = σ‖v‖ e₁."""

    kernel: DeviationKernel
    h: FloatArray  # Householder vector (H = I − 2 h hᵀ / hᵀh)
    sigma_norm: float  # σ‖v‖
    a: float
    b: FloatArray
    c: FloatArray
    q: FloatArray  # B_ZX H  [m, n]
    log10_tau: float

    @staticmethod
    def build(kernel: DeviationKernel) -> _Householder:
        v = kernel.v
        norm = float(np.linalg.norm(v))
        sign = 1.0 if v[0] >= 0 else -1.0
        h = v.copy()
        h[0] += sign * norm
        hh = float(h @ h)

        def reflect_cols(mat: FloatArray) -> FloatArray:  # mat @ H
            return mat - np.outer(mat @ h, h) * (2.0 / hh)

        p = reflect_cols(kernel.b_train)
        p = p - np.outer(h, h @ p) * (2.0 / hh)  # H (B H)
        p = (p + p.T) / 2.0
        tau = kernel.tau
        return _Householder(
            kernel=kernel,
            h=h,
            sigma_norm=-sign * norm,
            a=norm * norm + tau * float(p[0, 0]),
            b=p[1:, 0].copy(),
            c=p[1:, 1:].copy(),
            q=reflect_cols(kernel.b_cross),
            log10_tau=kernel.log10_tau,
        )

    def reflect(self, y: FloatArray) -> FloatArray:
        """H y (H is its own inverse)."""
        return y - np.outer(self.h, self.h @ y) * (2.0 / float(self.h @ self.h))

    def separated(self) -> bool:
        tau = pow10(self.log10_tau)
        return tau * float(np.linalg.norm(self.c)) <= _GAP * self.a

    def mu_noise(self) -> float:
        """Noise level of the eigenvalues of C (units of τ)."""
        return max(self.c.shape[0], 1) * _EPS * float(np.linalg.norm(self.c))

    def _small_units(self, reg: float) -> tuple[float, float, float]:
        """(e_s, ρ, r): small eigenvalues are 10^e_s · (ρ γ + r) with ρ = 10^(lt−e_s)."""
        log10_reg = log10_or_neg_inf(reg)
        e_s = max(self.log10_tau, log10_reg)
        if e_s == -math.inf:  # τ = 0, no regulariser: the kriging limit, scale-free
            return e_s, 1.0, 0.0
        return e_s, pow10(self.log10_tau - e_s), pow10(log10_reg - e_s)

    def _decouple(self) -> tuple[FloatArray, float]:
        """x̃ with (λ₀ − τC) x̃ = b, λ₀ = a + τ² bᵀx̃: the big eigenvector is [1; τ x̃]."""
        tau = pow10(self.log10_tau)
        x = np.zeros_like(self.b)
        lam0 = self.a
        for _ in range(200):
            x_new = (self.b + tau * (self.c @ x)) / lam0
            lam0 = self.a + tau * tau * float(self.b @ x_new)
            done = np.linalg.norm(x_new - x) <= 4 * _EPS * max(float(np.linalg.norm(x_new)), 1e-300)
            x = x_new
            if done:
                break
        return x, lam0

    def decompose(self) -> tuple[FloatArray, float, FloatArray, FloatArray]:
        """(x̃, λ₀, γ, W): the big mode [1; τx̃] with eigenvalue λ₀ and the eigenpairs of the
        deviation block (the small eigenvalues are τγ, their eigenvectors S N W)."""
        x, lam0 = self._decouple()
        gamma, w = scipy.linalg.eigh(self._small_block(x), check_finite=False)
        return x, lam0, gamma, w

    def eig(
        self, reg: float, dec: tuple[FloatArray, float, FloatArray, FloatArray]
    ) -> tuple[float, FloatArray, FloatArray, float]:
        """(λ₀ + λ̂, γ, μ, e_s): the big eigenvalue; γ ascending and the small eigenvalues
        10^e_s·μ of K̂ + λ̂I."""
        _, lam0, gamma, _ = dec
        e_s, rho, r = self._small_units(reg)
        return lam0 + reg, gamma, rho * gamma + r, e_s

    def _n_apply(self, x: FloatArray, mat: FloatArray) -> FloatArray:
        """N mat with N = (I + τ² x xᵀ)^(−1/2)."""
        tau = pow10(self.log10_tau)
        nx = float(np.linalg.norm(x)) * tau
        if nx == 0.0:
            return mat
        xhat = x / np.linalg.norm(x)
        coef = 1.0 - 1.0 / math.sqrt(1.0 + nx * nx)
        return mat - coef * np.outer(xhat, xhat @ mat)

    def _small_block(self, x: FloatArray) -> FloatArray:
        """N [C − τ(x bᵀ + b xᵀ) + a τ x xᵀ] N: the deviation block off the big mode, over τ."""
        tau = pow10(self.log10_tau)
        inner = (
            self.c
            - tau * (np.outer(x, self.b) + np.outer(self.b, x))
            + self.a * tau * np.outer(x, x)
        )
        inner = self._n_apply(x, inner)
        inner = self._n_apply(x, inner.T).T
        return (inner + inner.T) / 2.0

    def flow(
        self,
        y: FloatArray,
        reg: float,
        log10_eta_t: list[float],
        dec: tuple[FloatArray, float, FloatArray, FloatArray],
    ) -> tuple[FloatArray, FloatArray]:
        """Test and train means of the gradient flow for each log10(η t), from decompose()."""
        x, lam0, gamma, w = dec
        tau = pow10(self.log10_tau)
        e_s, rho, r = self._small_units(reg)
        noise = self.mu_noise()
        resolved = gamma > noise
        mu = rho * np.where(resolved, gamma, 0.0) + r
        big = lam0 + reg
        yh = self.reflect(y)
        norm_w = math.sqrt(1.0 + (tau * float(np.linalg.norm(x))) ** 2)
        c0 = (yh[0] + tau * (x @ yh[1:])) / norm_w  # [k]
        cs = w.T @ self._n_apply(x, yh[1:] - tau * np.outer(x, yh[0]))  # [n-1, k]
        # test side: K̂_ZX H = σ‖v‖ u e₁ᵀ + τ Q
        u = self.kernel.u
        big_cross = (
            self.sigma_norm * u + tau * self.q[:, 0] + tau * tau * (self.q[:, 1:] @ x)
        ) / norm_w
        small_cross = (
            -self.sigma_norm * np.outer(u, x) + self.q[:, 1:] - tau * np.outer(self.q[:, 0], x)
        )  # (K̂_ZX H S)/τ
        small_cross = self._n_apply(x, small_cross.T).T @ w  # [m, n-1]
        means, trains = [], []
        for lt in log10_eta_t:
            phi0 = float(flow_factor(np.array([big]), np.zeros(1), lt)[0])
            g0 = float(flow_gain(np.array([big]), np.zeros(1), lt)[0])
            # unresolved modes are null modes to float64: K(Z, X) v = 0 (see KernelSolver._flow)
            phis = np.where(resolved, flow_factor(mu, np.full(mu.size, e_s), lt) * rho, 0.0)
            gains = flow_gain(mu, np.full(mu.size, e_s), lt)
            mean = np.outer(big_cross, phi0 * c0) + small_cross @ (phis[:, None] * cs)
            d = w @ (gains[:, None] * cs)
            d = self._n_apply(x, d)
            top = g0 * c0 / norm_w - tau * (x @ d)
            rest = np.outer(tau * x, g0 * c0 / norm_w) + d
            trains.append(self.reflect(np.vstack([top[None, :], rest])))
            means.append(mean)
        return np.array(means), np.array(trains)

    def solve(self, y: FloatArray, reg: float) -> tuple[FloatArray, FloatArray, float] | None:
        """t = ∞ by the Schur complement on the big mode and a Cholesky of the deviation block.

        Returns (test mean, train mean, log10 κ estimate) or None when the block is singular
        to float64 (the caller falls back to the eigh pseudo-inverse).
        """
        tau = pow10(self.log10_tau)
        e_s, rho, r = self._small_units(reg)
        c2 = rho * self.c + r * np.eye(self.c.shape[0])
        scale = float(np.mean(np.diag(c2))) if c2.size else 1.0
        yh = self.reflect(y)
        try:
            factor = scipy.linalg.cho_factor(c2, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            return None
        if not well_posed(factor[0], scale):
            return None
        z2 = scipy.linalg.cho_solve(factor, yh[1:], check_finite=False)
        rb = scipy.linalg.cho_solve(factor, self.b, check_finite=False)
        denom = self.a + reg - tau * rho * float(self.b @ rb)
        if not (np.all(np.isfinite(z2)) and np.all(np.isfinite(rb)) and denom > 0):
            return None
        block_norm = float(np.max(np.abs(c2).sum(axis=0))) if c2.size else 1.0
        rcond = cholesky_rcond(factor[0], block_norm)
        # κ ≈ (a + λ̂) / (10^e_s λ_min(c2)), λ_min(c2) ≈ rcond·‖c2‖₁
        log10_kappa = (
            math.log10(self.a + reg) - e_s - math.log10(max(rcond * block_norm, 1e-300))
            if c2.size
            else 0.0
        )
        w1 = (yh[0] - rho * (self.b @ z2)) / denom  # [k]
        tw2 = rho * (z2 - tau * np.outer(rb, w1))  # τ w₂
        u = self.kernel.u
        mean = np.outer(self.sigma_norm * u + tau * self.q[:, 0], w1) + self.q[:, 1:] @ tw2
        # train: K̂ w = y − λ̂ w, with λ̂ w₂ = 10^(lλ−e_s)(z2 − τ rb w1)
        reg_w = np.vstack([reg * w1[None, :], r * (z2 - tau * np.outer(rb, w1))])
        train = y - self.reflect(reg_w)
        return mean, train, log10_kappa
