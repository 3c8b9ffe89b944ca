"""Beam search (``minirnn.beam``): exhaustive when the beam covers every candidate, greedy
at beam size 1, one row at a time the same as a batch, bad arguments in one line."""
import itertools

import numpy as np
import pytest

from minirnn.beam import beam_search, lm_beam_search, log_softmax
from minirnn.data import Vocab
from minirnn.generate import predict
from minirnn.gradcheck import randomize_params
from minirnn.models import RNNLM


class LMDecoding:
    """A tiny language model as a decoding (logits depend on the whole prefix)."""

    def __init__(self, V, seed, H=5, scale=0.5):
        self.model = RNNLM(V, H, embed_dim=3, seed=seed, dtype=np.float64)
        randomize_params(self.model, np.random.default_rng([seed, 1]), scale=scale)   # unsure: beams differ

    def begin(self, B):
        return self.model.begin_state(B)

    def decode_step(self, y, state):
        logits, state = self.model.forward(y[:, None], state)
        return logits[:, -1], state

    @staticmethod
    def select_rows(state, rows):
        return tuple(s[:, rows] for s in state)


def log_prob(dec, bos, seq):
    """log P(seq) under the decoding, one step at a time from <bos>."""
    state, y, total = dec.begin(1), np.array([bos]), 0.0
    for tok in seq:
        logits, state = dec.decode_step(y, state)
        total += log_softmax(logits)[0, tok]
        y = np.array([tok])
    return total


def exhaustive(dec, V, bos, eos, max_len, alpha):
    """Every candidate: L-1 non-<eos> tokens then <eos> (L <= max_len), or max_len
    tokens without <eos>; the best (1 / L^alpha) log P and its tokens (without <eos>)."""
    words = [t for t in range(V) if t != eos]
    best = (-np.inf, None)
    for L in range(1, max_len + 1):
        for body in itertools.product(words, repeat=L - 1):
            tails = [(eos,)] + ([(w,) for w in words] if L == max_len else [])
            for tail in tails:
                seq = body + tail
                score = log_prob(dec, bos, seq) / L ** alpha
                if score > best[0]:
                    best = (score, [t for t in seq if t != eos])
    return best


@pytest.mark.parametrize("seed, alpha", [(0, 0.75), (1, 0.0), (2, 1.0), (3, 0.75)])
def test_a_beam_covering_every_candidate_is_exhaustive_search(seed, alpha):
    V, bos, eos, max_len = 4, 0, 3, 4
    dec = LMDecoding(V, seed)
    score, best = exhaustive(dec, V, bos, eos, max_len, alpha)
    seqs, scores = beam_search(dec, dec.begin(1), 1, bos, eos, max_len,
                               beam_size=V ** max_len, alpha=alpha)
    assert seqs[0].tolist() == best
    assert scores[0] == pytest.approx(score, rel=1e-12)


def test_a_narrow_beam_can_miss_what_exhaustive_search_finds():
    """The test above can fail: over seeds, greedy search (beam 1) misses the exhaustive best somewhere."""
    V, bos, eos, max_len, misses = 4, 0, 3, 4, 0
    for seed in range(12):
        dec = LMDecoding(V, seed)
        score, _ = exhaustive(dec, V, bos, eos, max_len, 0.75)
        _, scores = beam_search(dec, dec.begin(1), 1, bos, eos, max_len, beam_size=1)
        assert scores[0] <= score + 1e-12
        misses += scores[0] < score - 1e-9
    assert misses > 0


def greedy(dec, B, bos, eos, max_len):
    state, y = dec.begin(B), np.full(B, bos)
    out, done = [[] for _ in range(B)], np.zeros(B, bool)
    for _ in range(max_len):
        logits, state = dec.decode_step(y, state)
        y = logits.argmax(-1)
        for b in range(B):
            if not done[b]:
                done[b] = y[b] == eos
                if not done[b]:
                    out[b].append(int(y[b]))
        if done.all():
            break
    return out


@pytest.mark.parametrize("seed", range(4))
def test_beam_size_one_is_greedy_search(seed):
    V, B, bos, eos = 6, 5, 0, 1
    dec = LMDecoding(V, seed)
    dec.model.params["output.b"][eos] -= 1.5                 # some rows end, some run to max_len
    seqs, _ = beam_search(dec, dec.begin(B), B, bos, eos, max_len=7, beam_size=1)
    want = greedy(dec, B, bos, eos, 7)
    assert [s.tolist() for s in seqs] == want


def test_a_batch_is_each_row_alone():
    V, B, bos, eos = 5, 3, 0, 4
    dec = LMDecoding(V, 7)
    state = tuple(np.random.default_rng(1).standard_normal((1, B, 5)) for _ in range(1))
    seqs, scores = beam_search(dec, state, B, bos, eos, 6, beam_size=3)
    for b in range(B):
        one, s = beam_search(dec, tuple(x[:, [b]] for x in state), 1, bos, eos, 6, beam_size=3)
        assert one[0].tolist() == seqs[b].tolist() and s[0] == pytest.approx(scores[b], rel=1e-12)


def test_language_model_beam_one_is_predict_and_a_wider_beam_is_at_least_as_likely():
    vocab = Vocab(list("abcde "))
    model = RNNLM(len(vocab), 8, embed_dim=4, seed=3)
    randomize_params(model, np.random.default_rng(2), scale=1.0)
    prefix = [vocab[c] for c in "ab c"]
    one = lm_beam_search(model, prefix, 9, beam_size=1, unk_id=vocab.unk)
    text = predict("ab c", 9, model, vocab)
    assert "ab c" + "".join(vocab.to_tokens([int(t) for t in one])) == text
    dec = LMDecoding(len(vocab), 0)
    dec.model = model.astype(np.float64)
    wide = lm_beam_search(model, prefix, 9, beam_size=8, unk_id=vocab.unk)
    assert vocab.unk not in wide.tolist()

    def lp(seq):
        state = model.begin_state(1)
        _, state = model.forward(np.array([prefix[:-1]]), state)
        return log_prob_from(model, state, prefix[-1], seq)
    assert lp(wide) >= lp(one) - 1e-9


def log_prob_from(model, state, first, seq):
    y, total = first, 0.0
    for tok in seq:
        logits, state = model.forward(np.array([[y]]), state)
        total += log_softmax(logits[0, -1])[tok]
        y = tok
    return total


@pytest.mark.parametrize("kwargs, message", [
    ({"beam_size": 0}, "beam_size must be a positive int, got 0"),
    ({"beam_size": 2.5}, "beam_size must be a positive int"),
    ({"beam_size": True}, "beam_size must be a positive int"),
    ({"alpha": -0.5}, "alpha must be"),
    ({"alpha": float("nan")}, "alpha must be"),
    ({"alpha": "x"}, "alpha must be"),
    ({"max_len": 0}, "max_len must be a positive int, got 0"),
])
def test_bad_beam_size_alpha_max_len_in_one_line(kwargs, message):
    dec = LMDecoding(4, 0)
    args = {"beam_size": 2, "alpha": 0.75, "max_len": 3, **kwargs}
    with pytest.raises((ValueError, TypeError), match=message) as info:
        beam_search(dec, dec.begin(1), 1, 0, 3, **args)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_seq2seq_without_attention_beam_one_is_its_greedy_decode(cell):
    from minirnn.beam import seq2seq_beam_search
    from minirnn.models import Seq2Seq
    model = Seq2Seq(7, 6, embed_dim=3, num_hiddens=5, cell=cell, seed=1)
    randomize_params(model, np.random.default_rng(4), scale=0.8)
    src = np.random.default_rng(5).integers(0, 7, (6, 5))
    lengths = np.array([5, 2, 1, 4, 3, 5])
    greedy = model.greedy_decode(src, lengths, 0, 1, 7)
    beam1, _ = seq2seq_beam_search(model, src, lengths, 0, 1, 7, beam_size=1)
    assert [g.tolist() for g in greedy] == [b.tolist() for b in beam1]
    wide, scores = seq2seq_beam_search(model, src, lengths, 0, 1, 7, beam_size=4)
    assert len(wide) == 6 and np.all(np.isfinite(scores))


# ------------------------------------------------ minirnn generate --beam K
def test_generate_beam_on_the_command_line(tmp_path, capsys):
    from minirnn.cli import main
    text = ("the time traveller for so it will be convenient to speak of him was expounding "
            "a recondite matter to us ") * 6
    (tmp_path / "tiny.txt").write_text(text)
    out = tmp_path / "run"
    assert main(["train", "--corpus", str(tmp_path / "tiny.txt"), "--preset", "d2l-1.0",
                 "--num-train", "200", "--num-val", "40", "--batch", "50", "--steps", "8",
                 "--hidden", "16", "--optimizer", "adam", "--lr", "0.01", "--epochs", "1",
                 "--sample-every", "0", "--no-progress", "--out", str(out)]) == 0
    capsys.readouterr()

    def generate(*flags):
        try:
            code = main(["generate", "--checkpoint", str(out), "--prefix", "the ",
                         "--num-preds", "12", *flags])
        except SystemExit as exit:                            # argparse's usage errors
            code = exit.code
        captured = capsys.readouterr()
        return code, captured.out.strip("\n"), captured.err
    _, greedy, _ = generate()
    code, beam1, _ = generate("--beam", "1")
    assert code == 0 and beam1 == greedy                       # beam 1 is greedy
    code, beam4, _ = generate("--beam", "4")
    assert code == 0 and beam4.startswith("the ") and len(beam4) == len("the ") + 12
    for flags, message in ((["--beam", "0"], "--beam must be an integer in [1, 10000], got '0'"),
                           (["--beam", "2", "--temperature", "1"], "--beam searches for")):
        code, _, err = generate(*flags)
        assert code == 2 and message in err and err.count("\n") == 1


def test_predict_beam_arguments():
    vocab = Vocab(list("abc "))
    model = RNNLM(len(vocab), 4, seed=0)
    assert predict("ab", 0, model, vocab, strategy="beam") == "ab"
    assert predict("ab", 5, model, vocab, strategy="beam", beam_size=1) == predict("ab", 5, model, vocab)
    with pytest.raises(ValueError, match="beam_size applies to strategy='beam'"):
        predict("ab", 3, model, vocab, beam_size=2)
    with pytest.raises(ValueError, match="temperature and alpha apply to strategy='sample'"):
        predict("ab", 3, model, vocab, strategy="beam", temperature=2.0)
    with pytest.raises(ValueError, match="beam_size must be a positive int, got 0"):
        predict("ab", 3, model, vocab, strategy="beam", beam_size=0)
