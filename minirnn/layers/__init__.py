"""Layers with explicit forward and hand-derived backward passes.

Dimension letters used in every shape below:

    B  batch size               T  number of time steps (``num_steps``)
    D  input features           H  hidden units (``num_hiddens``)
    V  vocabulary size          E  embedding size
    L  num_layers * num_directions (the first axis of a recurrent state)

The layer contract (``docs/layers-and-gradcheck.md``):

* ``layer.params`` and ``layer.grads`` are dicts name -> ``np.ndarray`` with the same
  keys and shapes; a ``Module`` lists its children's with dotted names (``"rnn.W_hh"``),
  each shared array once;
* ``forward(...)`` keeps what ``backward`` needs in ``layer.cache``, a NamedTuple with
  named fields (``Linear``: ``x``; ``RNN``: ``X``, ``H``), never in a hidden graph;
* ``backward(dout)`` returns the gradient with respect to the layer's input(s) and
  **adds** the parameter gradients into ``grads``; ``zero_grad()`` resets them.

The recurrent contract (``RNN``, ``GRU``, ``LSTM``, stacked or bidirectional):

* ``forward(X (T, B, D), state=None, lengths=None) -> (Hs (T, B, H), state)``: the state
  is a **tuple** of arrays ``(L, B, H)``, ``(h,)`` (``(h, c)`` for an LSTM), as PyTorch's
  ``nn.RNN``; None means zeros.  ``lengths (B,)`` (ints in [1, T], any order) makes it a
  padded batch: past its length a sequence's state passes through unchanged and its
  outputs are zero; the reverse direction reads each sequence from its own last step.
* ``backward(dHs, dstate=None, keep=None) -> (dX, dstate0)``: ``dstate`` and ``dstate0``
  are tuples shaped like the state; ``keep`` ``(T,)`` or ``(T, B)`` scales the gradient
  from step t back to t-1 (0 cuts it: truncated BPTT).
* Each cell (``RNNCell``, ``GRUCell``, ``LSTMCell``) holds its one step, ``step`` and
  ``step_grad``, and ``weight_grads``; the layer's time loops run them.  For a loop
  written by hand, ``step_forward(x, state) -> (state, cache)`` and
  ``step_backward(dstate, cache) -> (dx, dstate_prev)`` are the same pieces for one step.

Layers take PyTorch's names for sizes (``input_size``, ``hidden_size``) and have the
book's as aliases (``num_hiddens``); models take the book's (``RNNLM(vocab_size,
num_hiddens)``).  Recurrent layers are time-major: ``X`` is ``(T, B, D)``.
"""
from .._checks import check_array, check_positive_int, check_token_ids, make_rng
from .attention import (AdditiveAttention, AttentionCache, DotProductAttention,
                        masked_softmax)
from .base import DEFAULT_DTYPE, Layer, Module, Sequential, evaluating, init_weight, storage
from .dense import (NONLINEARITIES, ActivationCache, Dropout, DropoutCache, Embedding,
                    EmbeddingCache, Linear, LinearCache, OneHot, ReLU, Tanh, activation_grad,
                    scatter_add_rows)
from .gated import GRU, GateView, GRUCache, GRUCell, GRUStepCache, sigmoid
from .lstm import LSTM, LSTMCache, LSTMCell, LSTMStepCache
from .recurrent import RNN, RNNCache, RNNCell, StepCache
from .timeloop import RecurrentLayer, check_keep, check_state

__all__ = ["DEFAULT_DTYPE", "Layer", "Module", "Sequential", "evaluating", "init_weight", "storage",
           "OneHot", "Embedding", "Linear", "Tanh", "ReLU", "Dropout", "activation_grad",
           "NONLINEARITIES", "scatter_add_rows", "RecurrentLayer", "RNNCell", "RNN", "StepCache", "RNNCache",
           "GRUCell", "GRU", "GRUStepCache", "GRUCache", "LSTMCell", "LSTM", "LSTMStepCache",
           "LSTMCache", "GateView", "sigmoid",
           "DotProductAttention", "AdditiveAttention", "AttentionCache", "masked_softmax",
           "EmbeddingCache", "LinearCache", "ActivationCache", "DropoutCache",
           "check_state", "check_keep", "check_array", "check_positive_int",
           "check_token_ids", "make_rng"]
