"""Numerical core of deepkernel: infinite-width kernels of deep fully-connected networks.

Pure numerics (numpy, scipy). Nothing here knows about HTTP; see MATH.md for every
convention used (NTK parameterization, depth = number of affine layers).
"""

from pathlib import Path

from core.numba_cache import stamp_sources

stamp_sources(Path(__file__).parent)  # before any kernel of core/ is defined
