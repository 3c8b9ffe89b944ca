"""Unaligned sequence to sequence: the book's encoder-decoder (``Seq2Seq``), without attention.

Dimension letters: B batch, T steps, V vocabulary, E embedding, H hidden, L layers.
"""
from __future__ import annotations

import numpy as np

from .._checks import check_int
from ..layers import (DEFAULT_DTYPE, Embedding, Linear, Module, check_array, check_positive_int,
                      check_state, evaluating, make_rng)
from .base import check_ids, recurrent_stack, unpack_inputs
from .registry import register_model

__all__ = ["Seq2SeqEncoder", "Seq2SeqDecoder", "Seq2Seq"]


class Seq2SeqEncoder(Module):
    """The book's ``Seq2SeqEncoder``: source ids -> embedding -> recurrent layer; what the
    decoder needs is the final state, each sequence's state at its own length.

    forward: ``X (B, T)`` source ids, ``lengths (B,)`` or None (all T) ->
    ``(Hs (T, B, H), state)``, the state ``(h,)`` (LSTM ``(h, c)``) of ``(L, B, H)`` arrays.
    backward: ``(dHs (T, B, H) or None (zeros: only the state is used), dstate)`` -> None
    (ids have no gradient); adds every parameter gradient.

    params: ``embedding.W (V_src, E)``, ``rnn.*``; ``reset_after``: PyTorch's GRU.
    """

    def __init__(self, vocab_size: int, embed_dim: int, num_hiddens: int, num_layers: int = 1,
                 cell: str = "gru", dropout: float = 0.0, rng=None, init: str = "xavier",
                 sigma: float = 0.01, dtype=DEFAULT_DTYPE, reset_after: bool = False):
        super().__init__()
        self.vocab_size = check_positive_int(vocab_size, "vocab_size")
        self.add("embedding", Embedding(vocab_size, embed_dim, rng=rng, init=init, sigma=sigma,
                                        dtype=dtype))
        self.add("rnn", recurrent_stack(cell, embed_dim, num_hiddens, num_layers=num_layers,
                                        dropout=dropout, reset_after=reset_after, rng=rng,
                                        init=init, sigma=sigma, dtype=dtype))

    def forward(self, X: np.ndarray, lengths=None):
        lengths = check_ids(X, self.vocab_size, lengths)       # before any cache changes
        inputs = self.embedding.forward(X.T)                   # ids (T, B) -> (T, B, E)
        return self.rnn.forward(inputs, None, lengths)         # (T, B, H), ((L, B, H), ...)

    def backward(self, dHs: np.ndarray | None = None, dstate: tuple | None = None) -> None:
        if self.rnn.cache is None:
            raise RuntimeError("Seq2SeqEncoder.backward called before forward")
        T, B = self.rnn.cache.X.shape[:2]
        if dHs is None:                                        # the book's seq2seq: only the
            dHs = np.zeros((T, B, self.rnn.hidden_size), dtype=self.dtype)   # state is used
        self.rnn.check_backward_args(dstate)                   # before any gradient changes
        dX, _ = self.rnn.backward(dHs, dstate)                 # dL/dX_t (T, B, E); h_0 = 0 is fixed
        self.embedding.backward(dX)                            # scatter-add into embedding.W
        return None


class Seq2SeqDecoder(Module):
    """The book's ``Seq2SeqDecoder``: its initial state is the encoder's final state, and
    the context c (the encoder's final top-layer hidden state) is concatenated to the
    embedded input at every step:

        X_t = [W_emb[y_{t-1}] ; c]                 (B, E + H)
        S_t = f(X_t, S_{t-1}),  S_0 = the encoder's final state (every layer)
        O_t = S_t W_hq + b_q                       (B, V_tgt)

    The context is an argument, fixed for the whole output.  (The 0.17 book's decoder
    takes ``state[-1]`` of whatever state it is given, so during step-by-step prediction
    its "context" becomes the decoder's own last state; the 1.0 book keeps the encoder's.
    Here it is always the encoder's.)

    forward: ``X (B, T)`` target-side input ids (teacher forcing: ``<bos>`` + the target
    shifted), ``state`` (a tuple of ``(L, B, H)``), ``context (B, H)``, ``lengths (B,)`` or
    None -> ``(logits (B, T, V_tgt), state)``.
    backward: ``(dlogits (B, T, V_tgt), dstate or None)`` -> ``(dstate0, dcontext (B, H))``:
    dL/dS_0 (a tuple like the state) and ``dL/dc = sum_t dL/dX_t[:, E:]`` (c is read at
    every step, so its gradient is the sum over the steps).

    params: ``embedding.W (V_tgt, E)``, ``rnn.*`` (input size E + H), ``output.W (H, V_tgt)``,
    ``output.b``.
    """

    def __init__(self, vocab_size: int, embed_dim: int, num_hiddens: int, num_layers: int = 1,
                 cell: str = "gru", dropout: float = 0.0, rng=None, init: str = "xavier",
                 sigma: float = 0.01, dtype=DEFAULT_DTYPE):
        super().__init__()
        self.vocab_size = check_positive_int(vocab_size, "vocab_size")
        self.embed_dim = check_positive_int(embed_dim, "embed_dim")
        self.add("embedding", Embedding(vocab_size, embed_dim, rng=rng, init=init, sigma=sigma,
                                        dtype=dtype))
        self.add("rnn", recurrent_stack(cell, embed_dim + num_hiddens, num_hiddens,
                                        num_layers=num_layers, dropout=dropout, rng=rng,
                                        init=init, sigma=sigma, dtype=dtype))
        self.add("output", Linear(num_hiddens, vocab_size, rng=rng, init=init, sigma=sigma,
                                  dtype=dtype))

    def forward(self, X: np.ndarray, state: tuple, context: np.ndarray, lengths=None):
        lengths = check_ids(X, self.vocab_size, lengths)       # before any cache changes
        B, T = X.shape
        check_state(state, "state", self.rnn.state_shape(B), len(self.rnn.state_names), self.dtype)
        check_array(context, "context", shape=(B, self.rnn.hidden_size), dtype=self.dtype)
        E, H = self.embed_dim, self.rnn.hidden_size
        inputs = np.empty((T, B, E + H), dtype=self.dtype)     # X_t = [embedding ; context]
        inputs[..., :E] = self.embedding.forward(X.T)          # W_emb[y_{t-1}]  (T, B, E)
        inputs[..., E:] = context                              # c, the same at every step
        Hs, state = self.rnn.forward(inputs, state, lengths)   # (T, B, H), ((L, B, H), ...)
        logits = self.output.forward(Hs)                       # O_t = S_t W_hq + b_q  (T, B, V)
        return logits.transpose(1, 0, 2), state                # (B, T, V) as the ids are laid out

    def backward(self, dlogits: np.ndarray, dstate: tuple | None = None) -> tuple:
        if self.rnn.cache is None:
            raise RuntimeError("Seq2SeqDecoder.backward called before forward")
        T, B = self.rnn.cache.X.shape[:2]
        check_array(dlogits, "dlogits", shape=(B, T, self.vocab_size), dtype=self.dtype)
        self.rnn.check_backward_args(dstate)                   # before any gradient changes
        E = self.embed_dim
        dHs = self.output.backward(dlogits.transpose(1, 0, 2))  # dL/dS_t = dO_t W_hq^T  (T, B, H)
        dX, dstate0 = self.rnn.backward(dHs, dstate)           # dL/dX_t (T, B, E + H), dL/dS_0
        self.embedding.backward(dX[..., :E])                   # scatter-add into embedding.W
        dcontext = dX[..., E:].sum(axis=0)                     # dL/dc = sum_t dL/dX_t[:, E:]  (B, H)
        return dstate0, dcontext


@register_model("seq2seq")
class Seq2Seq(Module):
    """The book's encoder-decoder for unaligned sequence to sequence (no attention).

        S^enc = encoder(source)                 each sequence's final state, at its length
        c     = S^enc's top-layer h             (B, H), the context
        logits = decoder(<bos> y_1 .. y_{n-1}, S_0 = S^enc, c)   (teacher forcing)

    Training: ``forward`` with the target-side inputs (``<bos>`` + target) and lengths,
    ``SoftmaxCrossEntropy`` against the targets (target + ``<eos>``) with the mask of the
    target lengths (a mean over real tokens), ``backward``.  Prediction: ``greedy_decode``
    feeds back the most likely token until ``<eos>``.

    ``forward((src, tgt_in), state=None, lengths=None) -> (logits (B, T_tgt, V_tgt),
    state)``: ``src (B, T_src)``, ``tgt_in (B, T_tgt)`` ids, ``lengths`` None or the pair
    ``(src_lengths, tgt_lengths)`` (each ``(B,)`` or None); the decoder starts from the
    encoder's state (``state`` must be None) and its final state is returned.
    ``backward(dlogits (B, T_tgt, V_tgt), dstate=None)`` -> None (ids have no gradient;
    the initial state is the encoder's); adds every parameter gradient.  The gradient reaches the encoder only through its final state:
    ``dL/dS^enc = dL/dS_0`` (the decoder's initial state), plus ``dL/dc`` into the top
    layer's h (the context).

    params: ``encoder.embedding.W``, ``encoder.rnn.*``, ``decoder.embedding.W``,
    ``decoder.rnn.*``, ``decoder.output.W``, ``decoder.output.b``.

    Args:
        src_vocab_size, tgt_vocab_size: ints, the two vocabularies (may be the same size).
        embed_dim: int E of both embeddings.
        num_hiddens: int H of both recurrent layers (the decoder starts from the encoder's state).
        num_layers: int L of both.
        cell: ``'rnn'``, ``'gru'`` (the book's) or ``'lstm'`` (state and context: h and c
            pass to the decoder, the context is h).
        dropout: between stacked layers, training only.
        init, sigma: the initialisation (``'xavier'`` as the book's ``init_seq2seq``).
        seed, rng: the initialisation's random source; dtype: float32 or float64.
    """

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, embed_dim: int = 32,
                 num_hiddens: int = 128, num_layers: int = 1, cell: str = "gru",
                 dropout: float = 0.0, init: str = "xavier", sigma: float = 0.01,
                 seed: int | None = 0, rng: np.random.Generator | None = None,
                 dtype=DEFAULT_DTYPE):
        super().__init__()
        self.embed_dim = check_positive_int(embed_dim, "embed_dim")
        self.num_hiddens = check_positive_int(num_hiddens, "num_hiddens")
        self.cell, self.init, self.sigma = cell, init, sigma
        rng = make_rng(seed, rng)
        common = dict(num_layers=num_layers, cell=cell, dropout=dropout, rng=rng, init=init,
                      sigma=sigma, dtype=dtype)
        self.add("encoder", Seq2SeqEncoder(src_vocab_size, embed_dim, num_hiddens, **common))
        self.add("decoder", Seq2SeqDecoder(tgt_vocab_size, embed_dim, num_hiddens, **common))
        self._dtype = np.dtype(dtype)

    @property
    def src_vocab_size(self) -> int:
        return self.encoder.vocab_size

    @property
    def tgt_vocab_size(self) -> int:
        return self.decoder.vocab_size

    def config(self) -> dict:
        """The JSON-able constructor arguments (``build_model('seq2seq', config)``)."""
        return {"src_vocab_size": self.src_vocab_size, "tgt_vocab_size": self.tgt_vocab_size,
                "embed_dim": self.embed_dim, "num_hiddens": self.num_hiddens,
                "num_layers": self.encoder.rnn.num_layers, "cell": self.cell,
                "dropout": self.encoder.rnn.dropout, "init": self.init, "sigma": self.sigma}

    @staticmethod
    def context(state: tuple) -> np.ndarray:
        """The context c: the top layer's final hidden state ``state[0][-1]`` ``(B, H)``."""
        return state[0][-1]

    def forward(self, inputs: tuple, state: tuple | None = None, lengths: tuple | None = None):
        src, tgt_in = unpack_inputs(inputs, ("src", "tgt_in"), "Seq2Seq.forward's inputs")
        src_lengths, tgt_lengths = (None, None) if lengths is None else unpack_inputs(
            lengths, ("src_lengths", "tgt_lengths"), "Seq2Seq.forward's lengths")
        if state is not None:
            raise ValueError("Seq2Seq's decoder starts from the encoder's final state: state "
                             "must be None")
        check_ids(src, self.src_vocab_size, src_lengths, "src", "src_lengths")  # everything
        check_ids(tgt_in, self.tgt_vocab_size, tgt_lengths, "tgt_in", "tgt_lengths")  # first
        if src.shape[0] != tgt_in.shape[0]:
            raise ValueError(f"tgt_in must have one row per source sequence ({src.shape[0]}), "
                             f"got {tgt_in.shape[0]}")
        _, enc_state = self.encoder.forward(src, src_lengths)  # S^enc, ((L, B, H), ...)
        return self.decoder.forward(tgt_in, enc_state, self.context(enc_state), tgt_lengths)

    def backward(self, dlogits: np.ndarray, dstate: tuple | None = None) -> None:
        if self.encoder.rnn.cache is None or self.decoder.rnn.cache is None:
            raise RuntimeError("Seq2Seq.backward called before forward")
        dstate0, dcontext = self.decoder.backward(dlogits, dstate)   # dL/dS_0, dL/dc
        dh = dstate0[0].copy()                                 # (L, B, H): dL/dh^enc of each layer
        dh[-1] += dcontext                                     # c = h^enc of the top layer
        self.encoder.backward(None, (dh, *dstate0[1:]))        # (LSTM: dL/dc^enc = dL/dC_0)
        return None

    def greedy_decode(self, src: np.ndarray, src_lengths, bos_id: int, eos_id: int,
                      max_len: int) -> list:
        """The book's ``predict_seq2seq``, for a batch: encode, then feed back the most likely
        token, ``y_t = argmax O_t``, from ``<bos>`` until each sequence has given ``<eos>``
        (or ``max_len`` tokens).  In evaluation mode (no dropout); no gradient is kept.

        -> a list of B int arrays, each sequence's tokens before its ``<eos>``.
        """
        check_ids(src, self.src_vocab_size, src_lengths, "src", "src_lengths")  # before anything
        for name, value in (("bos_id", bos_id), ("eos_id", eos_id)):   # target-side token ids
            check_int(value, name, minimum=0, maximum=self.tgt_vocab_size - 1)
        max_len = check_positive_int(max_len, "max_len")
        with evaluating(self):
            _, state = self.encoder.forward(src, src_lengths)
            context = self.context(state)                      # fixed for the whole output
            B = src.shape[0]
            y = np.full((B, 1), bos_id, dtype=np.int64)        # <bos> starts every output
            out = np.empty((B, max_len), dtype=np.int64)
            length = np.full(B, max_len, dtype=np.int64)       # max_len unless <eos> came
            done = np.zeros(B, dtype=bool)
            for t in range(max_len):
                logits, state = self.decoder.forward(y, state, context)   # one step (B, 1, V)
                y = logits[:, -1].argmax(axis=-1)[:, None]     # y_t = argmax O_t  (B, 1)
                out[:, t] = y[:, 0]
                ended = (y[:, 0] == eos_id) & ~done
                length[ended] = t
                done |= ended
                if done.all():
                    break
        return [out[b, :length[b]] for b in range(B)]

