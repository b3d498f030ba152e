"""Per-point fields of the packed layer table of :mod:`core.entry_loop` (one row per point
and layer; see its ``_diagonals``), shared with :mod:`core.lanes`."""

#: √Σ_aa, Σ_aa, √V, √(V + β), √W, √Θ_aa, √P, √R, √(P + R) (V = σ_w²E[φ²], W = σ_w²E[φ'²],
#: β = σ_b² at the layer's scale, P = V + β and R = W·Θ_aa at the common scale of Θ')
(F_RG, F_Q, F_SV, F_SVB, F_SD, F_RTH, F_SP, F_SR, F_ST) = range(9)
#: erf only: 1/(1 + 2q), √ρ with ρ = 2q/(1 + 2q), √(1 + 4q), (1 + 4q)^¼
(F_IP, F_SRHO, F_R2, F_R4, FIELDS) = range(9, 14)
