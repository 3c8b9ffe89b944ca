"""minirnn: the recurrent neural networks chapter of Dive into Deep Learning, in pure NumPy.

Every layer has an explicit forward and a hand-derived backward pass, checked by
``minirnn.gradcheck``.  Start with ``minirnn.layers`` (the math) and ``minirnn.models``.
"""
__version__ = "0.1.0"
