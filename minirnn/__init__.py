"""minirnn: the recurrent neural networks chapter of Dive into Deep Learning, in pure NumPy.

Every layer has an explicit forward and a hand-derived backward pass, checked by
``minirnn.gradcheck``.  Start with ``minirnn.layers`` (the math) and ``minirnn.models``.
"""
import os as _os

__version__ = "0.1.0"

# A BLAS library that starts as many threads as cores slows the small matrix products of
# an RNN step down when the machine is busy (measured: docs/training.md, "BLAS threads").  One thread
# unless the user chose otherwise; it takes effect only if NumPy is not imported yet
# (the command line, the scripts, and code that imports minirnn first).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_var, "1")

