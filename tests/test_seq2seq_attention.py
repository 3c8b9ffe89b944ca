"""The encoder-decoder with the Bahdanau decoder (``minirnn.models.Seq2SeqAttention``):
whole-model gradient checks, masking by the source lengths, decoding (greedy and beam),
the registry, and the decoder against the book's PyTorch code."""
import numpy as np
import pytest

from minirnn.beam import seq2seq_beam_search
from minirnn.gradcheck import assert_gradients_ok, check_layer, randomize_params
from minirnn.models import Seq2SeqAttention, build_model

V_SRC, V_TGT = 7, 6
#: Centered differences at eps 1e-5 (as the other seq2seq checks).  Their round-off floor
#: here is an absolute 1e-11 to 1e-10 per entry, so an entry below about 1e-4 can show a
#: relative error above 1e-6 with a right derivative.  Seed 0 with parameters of scale 1
#: keeps every case of the check below 3e-7; over seeds 1-5, 3 to 5 of its 10 cases reach
#: 1e-6 to 2e-3, every one at an entry whose analytic and numeric values differ by 1e-11 to
#: 1e-10 (the attention's W_q, whose largest entry is 1e-5 to 1e-3 when the query moves
#: every score alike, and the LSTM's W_h): round-off, not a derivative.  A wrong
#: derivative is off by far more.  The tolerance stays 1e-6.
EPS = 1e-5


def small_model(cell="gru", num_layers=1, seed=0, scale=1.0, **kwargs):
    model = Seq2SeqAttention(V_SRC, V_TGT, embed_dim=2, num_hiddens=3, num_layers=num_layers,
                             cell=cell, seed=seed, dtype=np.float64, **kwargs)
    randomize_params(model, np.random.default_rng([seed, 1]), scale=scale)
    return model


def batch(seed, B=3, T_src=5, T_tgt=4):
    rng = np.random.default_rng(seed)
    return rng.integers(0, V_SRC, (B, T_src)), rng.integers(0, V_TGT, (B, T_tgt))


@pytest.mark.parametrize("cell, num_layers, reset_after",
                         [("gru", 1, False), ("gru", 1, True), ("lstm", 1, False),
                          ("lstm", 2, False), ("rnn", 2, False)])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_whole_model_gradients(cell, num_layers, reset_after, with_lengths):
    """Every parameter (encoder, attention, decoder), from random upstream gradients of the
    logits and of the decoder's final state, with and without source lengths."""
    model = small_model(cell, num_layers, seed=0, reset_after=reset_after)
    src, tgt_in = batch(0)
    lengths = (np.array([5, 2, 3]), np.array([4, 2, 1])) if with_lengths else None
    errors = check_layer(model, (src, tgt_in), None, lengths,
                         input_names=("inputs", "state", "lengths"), eps=EPS)
    assert set(errors) == set(model.params)
    assert {"decoder.attention.W_q", "decoder.attention.W_k", "decoder.attention.w_v"} <= set(errors)
    assert_gradients_ok(errors)


def test_attention_masks_the_padded_source_exactly():
    model = small_model("lstm")
    src, tgt_in = batch(4)
    src_lengths = np.array([5, 2, 3])
    logits, _ = model.forward((src, tgt_in), None, (src_lengths, None))
    w = model.attention_weights
    assert w.shape == (3, 4, 5)
    for b, n in enumerate(src_lengths):
        assert np.all(w[b, :, n:] == 0.0) and np.all(w[b, :, :n] > 0)
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-12)
    other = src.copy()
    other[1, 2:] = (other[1, 2:] + 1) % V_SRC                 # change only the padding
    again, _ = model.forward((other, tgt_in), None, (src_lengths, None))
    np.testing.assert_array_equal(again, logits)


def test_the_query_is_the_previous_hidden_state():
    """Teacher forcing and step-by-step decoding compute the same logits and weights."""
    model = small_model("gru", 2)
    src, tgt_in = batch(5)
    src_lengths = np.array([4, 5, 1])
    logits, _ = model.forward((src, tgt_in), None, (src_lengths, None))
    weights = model.attention_weights
    state = model.begin_decoding(src, src_lengths)
    for t in range(tgt_in.shape[1]):
        step_logits, state = model.decode_step(tgt_in[:, t], state)
        np.testing.assert_allclose(step_logits, logits[:, t], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(model.decoder.attention.attention_weights[:, 0],
                                   weights[:, t], rtol=1e-12)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_beam_one_is_greedy_and_a_wider_beam_decodes_the_batch_row_by_row(cell):
    model = small_model(cell, seed=6, scale=0.5)
    src, _ = batch(7, B=6, T_src=6)
    src_lengths = np.array([6, 3, 1, 5, 2, 6])
    model.decoder.dense.params["b"][1] -= 4.0
    for _ in range(80):                                       # <eos> = 1 made likelier until
        greedy = model.greedy_decode(src, src_lengths, 0, 1, 8)   # some rows end early and
        if len({len(g) for g in greedy}) > 1:                 # some run to max_len
            break
        model.decoder.dense.params["b"][1] += 0.1
    beam1, _ = seq2seq_beam_search(model, src, src_lengths, 0, 1, 8, beam_size=1)
    assert [g.tolist() for g in greedy] == [b.tolist() for b in beam1]
    assert len({len(g) for g in greedy}) > 1
    wide, scores = seq2seq_beam_search(model, src, src_lengths, 0, 1, 8, beam_size=3)
    for b in range(6):
        one, s = seq2seq_beam_search(model, src[b:b + 1, :src_lengths[b]], None, 0, 1, 8, beam_size=3)
        assert one[0].tolist() == wide[b].tolist() and s[0] == pytest.approx(scores[b], rel=1e-9)


def test_config_and_checkpoint_rebuild_the_model(tmp_path):
    from minirnn import checkpoint
    from minirnn.data import Vocab
    from minirnn.optim import Adam
    model = Seq2SeqAttention(V_SRC, V_SRC, embed_dim=3, num_hiddens=4, num_layers=2,
                             cell="gru", reset_after=True, seed=5)
    again = build_model("seq2seq_attention", model.config())
    assert isinstance(again, Seq2SeqAttention) and again.config() == model.config()
    assert {k: v.shape for k, v in again.params.items()} == {k: v.shape for k, v in model.params.items()}
    vocab = Vocab(list("abcd"), reserved_tokens=("<pad>", "<bos>"))
    path = checkpoint.save(tmp_path / "m.npz", model, vocab, Adam(model.params, model.grads).state_dict(),
                           {"task": "copy"}, epoch=1, rng_state={})
    loaded = checkpoint.build_model(checkpoint.load(path))
    src, tgt_in = batch(12)
    np.testing.assert_array_equal(loaded.forward((src, tgt_in % V_SRC))[0],
                                  model.forward((src, tgt_in % V_SRC))[0])


def test_bad_input_named_before_anything_changes():
    model = small_model()
    src, tgt_in = batch(8)
    model.forward((src, tgt_in))
    steps = model.decoder.steps
    with pytest.raises(ValueError, match="src_lengths must be in"):
        model.forward((src, tgt_in), None, (np.array([0, 1, 2]), None))
    with pytest.raises(ValueError, match="token id 9 in src out of range"):
        model.forward((np.full((3, 5), 9), tgt_in))
    with pytest.raises(ValueError, match="tgt_in must have one row per source"):
        model.forward((src, tgt_in[:2]))
    assert model.decoder.steps is steps
    with pytest.raises(ValueError, match="eos_id must be an int in"):
        model.greedy_decode(src, None, 0, 6, 4)
    with pytest.raises(RuntimeError, match="before forward"):
        small_model().backward(np.zeros((3, 4, V_TGT)))


# ------------------------------------------------ the book's PyTorch code, weights exchanged
def torch_book_model(torch, V_src, V_tgt, E, H, L, cell):
    """The book's ``Seq2SeqEncoder`` and ``Seq2SeqAttentionDecoder`` (d2l 1.0) in torch,
    the encoder reading each source to its length (``pack_padded_sequence``)."""
    nn = torch.nn
    rnn = {"gru": nn.GRU, "lstm": nn.LSTM}[cell]

    class AdditiveAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.W_k, self.W_q = nn.Linear(H, H, bias=False), nn.Linear(H, H, bias=False)
            self.w_v = nn.Linear(H, 1, bias=False)

        def forward(self, queries, keys, values, valid_lens):
            features = torch.tanh(self.W_q(queries).unsqueeze(2) + self.W_k(keys).unsqueeze(1))
            scores = self.w_v(features).squeeze(-1)
            mask = torch.arange(scores.shape[-1])[None, None, :] < valid_lens[:, None, None]
            self.attention_weights = torch.softmax(scores.masked_fill(~mask, -1e6), dim=-1)
            return torch.bmm(self.attention_weights, values)

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding, self.rnn = nn.Embedding(V_src, E), rnn(E, H, L)

        def forward(self, X, lengths):
            packed = nn.utils.rnn.pack_padded_sequence(self.embedding(X.t()), lengths,
                                                       enforce_sorted=False)
            out, state = self.rnn(packed)
            return nn.utils.rnn.pad_packed_sequence(out, total_length=X.shape[1])[0], state

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.attention, self.embedding = AdditiveAttention(), nn.Embedding(V_tgt, E)
            self.rnn, self.dense = rnn(E + H, H, L), nn.Linear(H, V_tgt)

        def forward(self, X, enc_outputs, state, valid_lens):
            outputs, weights = [], []
            for x in self.embedding(X).permute(1, 0, 2):
                h = state[0] if cell == "lstm" else state
                context = self.attention(h[-1].unsqueeze(1), enc_outputs, enc_outputs, valid_lens)
                x = torch.cat((context, x.unsqueeze(1)), dim=-1)          # the book's order
                out, state = self.rnn(x.permute(1, 0, 2), state)
                outputs.append(out)
                weights.append(self.attention.attention_weights)
            return self.dense(torch.cat(outputs, 0)).permute(1, 0, 2), torch.cat(weights, 1)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder, self.decoder = Encoder(), Decoder()

        def forward(self, src, tgt_in, src_lengths):
            enc_outputs, state = self.encoder(src, src_lengths)
            return self.decoder(tgt_in, enc_outputs.permute(1, 0, 2), state, src_lengths)

    return Model().double()


@pytest.mark.parametrize("cell, num_layers", [("gru", 1), ("lstm", 1), ("gru", 2)])
def test_lockstep_with_the_books_pytorch_model_through_a_state_dict(cell, num_layers):
    """minirnn's weights loaded into the book's PyTorch model (``to_torch_state_dict``):
    the same logits, attention weights and every parameter's gradient; and back."""
    torch = pytest.importorskip("torch")
    from minirnn.interop import load_torch_state_dict, to_torch_state_dict
    model = small_model(cell, num_layers, seed=3, scale=0.5, reset_after=cell == "gru")
    net = torch_book_model(torch, V_SRC, V_TGT, 2, 3, num_layers, cell)
    state_dict = to_torch_state_dict(model)
    assert set(state_dict) == set(net.state_dict())
    net.load_state_dict({k: torch.from_numpy(v) for k, v in state_dict.items()})
    src, tgt_in = batch(9)
    src_lengths = np.array([5, 2, 4])
    logits, _ = model.forward((src, tgt_in), None, (src_lengths, None))
    dlogits = np.random.default_rng(10).standard_normal(logits.shape)
    model.zero_grad()
    model.backward(dlogits)
    t_logits, t_weights = net(torch.from_numpy(src), torch.from_numpy(tgt_in),
                              torch.from_numpy(src_lengths))
    t_logits.backward(torch.from_numpy(dlogits))
    np.testing.assert_allclose(logits, t_logits.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.attention_weights, t_weights.detach().numpy(), atol=1e-12)
    grads = to_torch_state_dict(model, "grads")
    for name, p in net.named_parameters():
        np.testing.assert_allclose(grads[name], p.grad.numpy(), rtol=1e-8, atol=1e-11,
                                   err_msg=name)
    other = small_model(cell, num_layers, seed=4, reset_after=cell == "gru")
    load_torch_state_dict(other, net.state_dict())
    for name, p in model.params.items():
        np.testing.assert_allclose(other.params[name], p, rtol=1e-12, err_msg=name)


def test_the_books_gru_has_no_pytorch_module():
    from minirnn.interop import to_torch_state_dict
    with pytest.raises(ValueError, match="reset_after=True"):
        to_torch_state_dict(small_model("gru"))


def test_inputs_and_lengths_are_pairs():
    model = small_model()
    src, tgt_in = batch(11)
    with pytest.raises(TypeError, match=r"inputs must be a tuple \(src, tgt_in\), got ndarray"):
        model.forward(src)
    with pytest.raises(TypeError, match=r"lengths must be a tuple \(src_lengths, tgt_lengths\)"):
        model.forward((src, tgt_in), None, np.array([5, 5, 5]))
    with pytest.raises(ValueError, match="state must be None"):
        model.forward((src, tgt_in), model.begin_decoding(src)[0])


def test_trains_through_the_trainer():
    """The same Trainer as every model: a tiny copy task, the loss falls by more than half."""
    from minirnn.models import Batch
    from minirnn.train import Trainer
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(4):
        src = rng.integers(3, V_SRC, (16, 5))
        tgt_in = np.concatenate([np.zeros((16, 1), np.int64), src], axis=1) % V_TGT
        tgt_out = np.concatenate([src, np.ones((16, 1), np.int64)], axis=1) % V_TGT
        lengths = rng.integers(2, 6, 16)
        batches.append(Batch((src, tgt_in), tgt_out, (lengths, None)))
    model = Seq2SeqAttention(V_SRC, V_TGT, embed_dim=8, num_hiddens=16, seed=0)
    history = Trainer(model, batches, optimizer="adam", lr=0.02, clip=1.0,
                      progress=False).fit(12)
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
