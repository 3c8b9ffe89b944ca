"""Sequence to sequence with attention: the book's Bahdanau decoder.

Dimension letters: B batch, T target steps, T_s source steps, V target vocabulary,
E embedding, H hidden units, L layers.

The encoder is the book's (``Seq2SeqEncoder``).  Its outputs at every source step are the
keys and the values; at target step t the query is the decoder's previous hidden state
(the top layer's), so the context is recomputed at every step::

    q_t = S_{t-1}[top h]                                          (B, H)   S_{-1} = S^enc
    c_t = sum_i alpha(q_t, h^enc_i) h^enc_i,  i < src_length      (B, H)   AdditiveAttention
    X_t = [c_t ; W_emb[y_{t-1}]]                                  (B, H + E)  (the book's order)
    S_t = f(X_t, S_{t-1})                                         the recurrent layer, one step
    O_t = S_t[top h] W_hq + b_q                                   (B, V)

Backward through time runs the steps in reverse: each step's recurrent backward gives
dL/dX_t and dL/dS_{t-1}; dL/dc_t goes through the attention's backward into the query
(added to dL/dS_{t-1}'s top h) and into the keys and values (summed over the steps, then
into the encoder's outputs); dL/dS_{-1} goes into the encoder's final state.

To and from PyTorch: ``minirnn.interop.to_torch_state_dict(model)`` gives the state dict
of the book's PyTorch ``Seq2SeqAttentionDecoder`` (``attention.W_q.weight`` (H, H) =
``W_q^T``, ``attention.W_k.weight`` = ``W_k^T``, ``attention.w_v.weight`` (1, H) =
``w_v``, ``embedding.weight``, ``rnn.weight_ih_l0`` ... with the context's columns first,
``dense.weight``) under ``decoder.``, and the encoder's under ``encoder.``, for an LSTM
or a GRU with ``reset_after=True`` (PyTorch's GRU; the book's GRU has no PyTorch module).
"""
from __future__ import annotations

import numpy as np

from .._checks import check_int, check_positive_int, make_rng
from ..layers import (DEFAULT_DTYPE, AdditiveAttention, Embedding, Linear, Module, evaluating)
from .base import check_ids, recurrent_stack, unpack_inputs
from .registry import register_model
from .seq2seq import Seq2SeqEncoder

__all__ = ["AttentionDecoder", "Seq2SeqAttention"]


def _with_sublayers(layer):
    yield layer
    for sub in layer.sublayers():
        yield from _with_sublayers(sub)


def save_caches(layer) -> list:
    """``[(layer, its cache), ...]`` for ``layer`` and every layer inside it: one step's
    caches, kept while the next step's forward replaces them."""
    return [(l, l.cache) for l in _with_sublayers(layer) if hasattr(l, "cache")]


def restore_caches(saved: list) -> None:
    for layer, cache in saved:
        layer.cache = cache


class AttentionDecoder(Module):
    """The book's ``Seq2SeqAttentionDecoder``, one step at a time (module docstring).

    forward: ``X (B, T)`` target-side input ids (``<bos>`` + the target shifted),
    ``enc_outputs (B, T_s, H)``, ``state`` (the encoder's final state, a tuple of
    ``(L, B, H)``), ``src_lengths (B,)`` or None -> ``(logits (B, T, V), state)``;
    ``attention_weights (B, T, T_s)`` after it.
    backward: ``(dlogits (B, T, V), dstate or None)`` -> ``(denc_outputs (B, T_s, H),
    dstate0)``.

    params: ``attention.W_q (H, H)``, ``attention.W_k (H, H)``, ``attention.w_v (H,)``,
    ``embedding.W (V, E)``, ``rnn.*`` (input size H + E), ``dense.W (H, V)``, ``dense.b``.
    """

    def __init__(self, vocab_size: int, embed_dim: int, num_hiddens: int, num_layers: int = 1,
                 cell: str = "gru", reset_after: bool = False, dropout: float = 0.0, rng=None,
                 init: str = "xavier", sigma: float = 0.01, dtype=DEFAULT_DTYPE):
        super().__init__()
        self.vocab_size = check_positive_int(vocab_size, "vocab_size")
        self.embed_dim = check_positive_int(embed_dim, "embed_dim")
        H = check_positive_int(num_hiddens, "num_hiddens")
        self.add("attention", AdditiveAttention(H, H, H, rng=rng, init=init, sigma=sigma,
                                                dtype=dtype))
        self.add("embedding", Embedding(vocab_size, embed_dim, rng=rng, init=init, sigma=sigma,
                                        dtype=dtype))
        self.add("rnn", recurrent_stack(cell, H + embed_dim, H, num_layers=num_layers,
                                        dropout=dropout, reset_after=reset_after, rng=rng,
                                        init=init, sigma=sigma, dtype=dtype))
        self.add("dense", Linear(H, vocab_size, rng=rng, init=init, sigma=sigma, dtype=dtype))
        self.steps = []                                       # per step: the layers' caches
        self.attention_weights = None

    def step(self, y: np.ndarray, state: tuple, enc_outputs: np.ndarray, src_lengths):
        """One step: ``y (B,)`` ids, ``state`` S_{t-1} -> ``(S_t's top h (B, H), S_t)``;
        the attention's and the recurrent layer's caches are theirs until the next step."""
        H = enc_outputs.shape[-1]
        query = state[0][-1][:, None]                         # q_t = S_{t-1}'s top h  (B, 1, H)
        context = self.attention.forward(query, enc_outputs, enc_outputs, src_lengths)  # (B, 1, H)
        x = np.empty((1, y.shape[0], H + self.embed_dim), dtype=enc_outputs.dtype)
        x[0, :, :H] = context[:, 0]                           # X_t = [c_t ; W_emb[y_{t-1}]]
        x[0, :, H:] = self.embedding.forward(y[None])[0]      #   (1, B, H + E)
        out, state = self.rnn.forward(x, state)               # S_t = f(X_t, S_{t-1})
        return out[0], state

    def forward(self, X: np.ndarray, enc_outputs: np.ndarray, state: tuple, src_lengths=None):
        B, T = X.shape
        self.steps, outputs, weights = [], [], []
        for t in range(T):
            h, state = self.step(X[:, t], state, enc_outputs, src_lengths)
            self.steps.append((save_caches(self.attention), save_caches(self.rnn),
                               self.embedding.cache))
            outputs.append(h)
            weights.append(self.attention.attention_weights[:, 0])
        self.attention_weights = np.stack(weights, axis=1)    # (B, T, T_s)
        logits = self.dense.forward(np.stack(outputs, axis=1))   # O_t = S_t W_hq + b_q  (B, T, V)
        return logits, state

    def backward(self, dlogits: np.ndarray, dstate: tuple | None = None):
        if not self.steps:
            raise RuntimeError("AttentionDecoder.backward called before forward")
        dH = self.dense.backward(dlogits)                     # dL/dS_t's top h  (B, T, H)
        H = dH.shape[-1]
        denc = None
        for t in reversed(range(len(self.steps))):
            attention_caches, rnn_caches, embedding_cache = self.steps[t]
            restore_caches(rnn_caches)
            dx, dstate = self.rnn.backward(np.ascontiguousarray(dH[None, :, t]), dstate)
            self.embedding.cache = embedding_cache
            self.embedding.backward(dx[:, :, H:])             # scatter-add: dL/dW_emb[y_{t-1}]
            restore_caches(attention_caches)
            dq, dk, dv = self.attention.backward(dx[0, :, None, :H])   # from dL/dc_t  (B, 1, H)
            denc = dk + dv if denc is None else denc + dk + dv   # keys = values = h^enc
            dh = dstate[0].copy()                             # (L, B, H)
            dh[-1] += dq[:, 0]                                # q_t = S_{t-1}'s top h
            dstate = (dh, *dstate[1:])
        return denc, dstate                                   # dL/dh^enc (B, T_s, H), dL/dS_{-1}


@register_model("seq2seq_attention")
class Seq2SeqAttention(Module):
    """The encoder-decoder with the Bahdanau decoder (``AttentionDecoder``).

    forward: ``inputs = (src (B, T_s), tgt_in (B, T))``, ``state`` None (the decoder starts
    from the encoder's final state), ``lengths`` None or ``(src_lengths (B,) or None,
    tgt_lengths (B,) or None)`` -> ``(logits (B, T, V_tgt), state)``.  The source lengths
    mask the attention (weights exactly 0 past each source's length); the target's padded
    steps are computed and left to the loss's mask.  ``attention_weights (B, T, T_s)``.
    backward: ``(dlogits, dstate=None)`` -> None; adds every parameter's gradient.
    Decoding: ``greedy_decode``, ``minirnn.beam.seq2seq_beam_search`` (``begin_decoding``,
    ``decode_step``, ``select_rows``).

    params: ``encoder.embedding.W``, ``encoder.rnn.*``, ``decoder.attention.W_q``,
    ``decoder.attention.W_k``, ``decoder.attention.w_v``, ``decoder.embedding.W``,
    ``decoder.rnn.*``, ``decoder.dense.W``, ``decoder.dense.b``.

    Args: as ``Seq2Seq`` (``src_vocab_size``, ``tgt_vocab_size``, ``embed_dim``,
    ``num_hiddens``, ``num_layers``, ``cell``, ``dropout``, ``init``, ``sigma``), and
    ``reset_after`` (GRU: PyTorch's form, to exchange weights with ``nn.GRU``).
    """

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, embed_dim: int = 32,
                 num_hiddens: int = 128, num_layers: int = 1, cell: str = "gru",
                 reset_after: bool = False, dropout: float = 0.0, init: str = "xavier",
                 sigma: float = 0.01, seed: int | None = 0,
                 rng: np.random.Generator | None = None, dtype=DEFAULT_DTYPE):
        super().__init__()
        self.embed_dim = check_positive_int(embed_dim, "embed_dim")
        self.num_hiddens = check_positive_int(num_hiddens, "num_hiddens")
        self.cell, self.reset_after, self.init, self.sigma = cell, reset_after, init, sigma
        rng = make_rng(seed, rng)
        common = dict(num_layers=num_layers, cell=cell, dropout=dropout, rng=rng, init=init,
                      sigma=sigma, dtype=dtype)
        self.add("encoder", Seq2SeqEncoder(src_vocab_size, embed_dim, num_hiddens,
                                           reset_after=reset_after, **common))
        self.add("decoder", AttentionDecoder(tgt_vocab_size, embed_dim, num_hiddens,
                                             reset_after=reset_after, **common))
        self._dtype = np.dtype(dtype)

    @property
    def src_vocab_size(self) -> int:
        return self.encoder.vocab_size

    @property
    def tgt_vocab_size(self) -> int:
        return self.decoder.vocab_size

    @property
    def attention_weights(self) -> np.ndarray | None:
        """``(B, T, T_s)`` of the last forward or decoding: output steps by source steps."""
        return self.decoder.attention_weights

    def config(self) -> dict:
        """The JSON-able constructor arguments (``build_model('seq2seq_attention', config)``)."""
        return {"src_vocab_size": self.src_vocab_size, "tgt_vocab_size": self.tgt_vocab_size,
                "embed_dim": self.embed_dim, "num_hiddens": self.num_hiddens,
                "num_layers": self.encoder.rnn.num_layers, "cell": self.cell,
                "reset_after": self.reset_after, "dropout": self.encoder.rnn.dropout,
                "init": self.init, "sigma": self.sigma}

    def _encode(self, src, src_lengths):
        Hs, state = self.encoder.forward(src, src_lengths)    # (T_s, B, H), S^enc
        return np.ascontiguousarray(Hs.transpose(1, 0, 2)), state   # keys = values (B, T_s, H)

    def forward(self, inputs, state=None, lengths=None):
        src, tgt_in = unpack_inputs(inputs, ("src", "tgt_in"), "Seq2SeqAttention.forward's inputs")
        src_lengths, tgt_lengths = (None, None) if lengths is None else unpack_inputs(
            lengths, ("src_lengths", "tgt_lengths"), "Seq2SeqAttention.forward's lengths")
        src_lengths = check_ids(src, self.src_vocab_size, src_lengths, "src", "src_lengths")
        check_ids(tgt_in, self.tgt_vocab_size, tgt_lengths, "tgt_in", "tgt_lengths")
        if src.shape[0] != tgt_in.shape[0]:
            raise ValueError(f"tgt_in must have one row per source sequence ({src.shape[0]}), "
                             f"got {tgt_in.shape[0]}")
        if state is not None:
            raise ValueError("state must be None: the decoder starts from the encoder's state")
        enc_outputs, enc_state = self._encode(src, src_lengths)
        self.src_lengths = src_lengths
        return self.decoder.forward(tgt_in, enc_outputs, enc_state, src_lengths)

    def backward(self, dlogits: np.ndarray, dstate: tuple | None = None) -> None:
        if self.encoder.rnn.cache is None or not self.decoder.steps:
            raise RuntimeError("Seq2SeqAttention.backward called before forward")
        denc, dstate0 = self.decoder.backward(dlogits, dstate)   # dL/dh^enc_i, dL/dS^enc
        self.encoder.backward(np.ascontiguousarray(denc.transpose(1, 0, 2)), dstate0)
        return None

    # ------------------------------------------------------------------ decoding
    def begin_decoding(self, src: np.ndarray, src_lengths=None) -> tuple:
        """Encode a batch: -> the decoding state ``(S (a tuple of (L, B, H)), enc_outputs
        (B, T_s, H), src_lengths or None)``."""
        src_lengths = check_ids(src, self.src_vocab_size, src_lengths, "src", "src_lengths")
        enc_outputs, state = self._encode(src, src_lengths)
        return state, enc_outputs, src_lengths

    def decode_step(self, y: np.ndarray, state: tuple):
        """One step from the tokens ``y (N,)`` -> ``(logits (N, V), state)``; the attention
        weights of the step are ``decoder.attention.attention_weights[:, 0]`` ``(N, T_s)``."""
        S, enc_outputs, src_lengths = state
        h, S = self.decoder.step(np.asarray(y, dtype=np.int64), S, enc_outputs, src_lengths)
        return self.decoder.dense.forward(h), (S, enc_outputs, src_lengths)

    @staticmethod
    def select_rows(state: tuple, rows: np.ndarray) -> tuple:
        S, enc_outputs, src_lengths = state
        return (tuple(a[:, rows] for a in S), enc_outputs[rows],
                None if src_lengths is None else src_lengths[rows])

    def greedy_decode(self, src: np.ndarray, src_lengths, bos_id: int, eos_id: int,
                      max_len: int) -> list:
        """Feed back the most likely token, ``y_t = argmax O_t``, from ``<bos>`` until each
        sequence has given ``<eos>`` (or ``max_len`` tokens); evaluation mode.  -> a list of
        B int arrays (the tokens before ``<eos>``); ``attention_weights (B, steps, T_s)``."""
        for name, value in (("bos_id", bos_id), ("eos_id", eos_id)):
            check_int(value, name, minimum=0, maximum=self.tgt_vocab_size - 1)
        max_len = check_positive_int(max_len, "max_len")
        with evaluating(self):
            state = self.begin_decoding(src, src_lengths)
            B = src.shape[0]
            y = np.full(B, bos_id, dtype=np.int64)
            out, weights = np.empty((B, max_len), dtype=np.int64), []
            length, done = np.full(B, max_len), np.zeros(B, dtype=bool)
            for t in range(max_len):
                logits, state = self.decode_step(y, state)
                weights.append(self.decoder.attention.attention_weights[:, 0])
                y = out[:, t] = logits.argmax(axis=-1)        # y_t = argmax O_t
                ended = (y == eos_id) & ~done
                length[ended], done = t, done | ended
                if done.all():
                    break
        self.decoder.attention_weights = np.stack(weights, axis=1)   # (B, steps, T_s)
        return [out[b, :length[b]] for b in range(B)]
