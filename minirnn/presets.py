"""The presets of ``minirnn train`` (the book's published runs and minirnn's default) and
the factories that turn a run's config into its data, model and trainer.

A config is a flat dict of JSON values, one entry per setting of ``minirnn.settings``
(``RUN_KEYS``; ``DEFAULT_CONFIG`` holds the defaults); a preset fills it, the command
line overrides some entries.  ``minirnn.runfolder`` writes a run into its folder; a
script can do what ``minirnn train`` does with these two (``benchmarks/reproduce_book.py``
does).
"""
from __future__ import annotations

import numpy as np

from .data import SeqDataLoader, WindowedData, build_corpus, load_corpus
from .models import build_model
from .settings import RUN_KEYS, SETTINGS, check_memory, defaults
from .train import Trainer

__all__ = ["DEFAULT_CONFIG", "PRESETS", "BOOK_RESULTS", "SAMPLINGS", "MODEL_KEYS", "LATER_KEYS",
           "WINDOW_KEYS", "preset_config", "model_config", "make_data", "make_model",
           "make_trainer", "run_bytes", "check_run_memory"]

#: Every setting of a run, with its default (``minirnn.settings`` defines them).  The
#: presets fill them all; the command line overrides some.
DEFAULT_CONFIG = defaults(RUN_KEYS)

_D2L_017 = {"max_tokens": 10000, "sampling": "sequential", "batch_size": 32, "num_steps": 35,
            "num_hiddens": 512, "lr": 1.0, "clip": 1.0, "num_epochs": 500, "sample_every": 50}

#: The book's published runs (d2l 0.17 and 1.0, the RNN chapters), and minirnn's default.
PRESETS = {
    # the README's main job: the 1.0 windows over the first 150,000 characters (the last
    # 20,000 held out), hidden 128 and Adam; docs/training.md says why these numbers
    "default": {"sampling": "windowed", "num_train": 150000, "num_val": 20000, "batch_size": 128,
                "num_steps": 32, "num_hiddens": 128, "optimizer": "adam", "lr": 0.005,
                "clip": 1.0, "num_epochs": 4, "init": "uniform", "sample_every": 1},
    # 0.17 "RNN from scratch": hidden 512, one-hot, N(0, 0.01^2), sequential partitioning
    "d2l-0.17": dict(_D2L_017),
    # ... the same with random sampling
    "d2l-0.17-random": dict(_D2L_017, sampling="random"),
    # 0.17 "concise": nn.RNN(256) with PyTorch's default init U(-1/sqrt(H), 1/sqrt(H))
    "d2l-0.17-concise": dict(_D2L_017, num_hiddens=256, init="uniform"),
    # 1.0 scratch/concise: hidden 32, 10,000 train / 5,000 validation windows
    "d2l-1.0": {"sampling": "windowed", "num_train": 10000, "num_val": 5000, "batch_size": 1024,
                "num_steps": 32, "num_hiddens": 32, "lr": 1.0, "clip": 1.0, "num_epochs": 100,
                "sample_every": 10},
    # 0.17 "Modern RNNs": hidden 256, the rest as the RNN's runs.
    # From scratch: the book's N(0, 0.01^2) per gate; concise: PyTorch's nn.GRU / nn.LSTM,
    # U(+-1/sqrt(H)) weights (PyTorch also draws its biases; minirnn starts them at 0)
    "d2l-0.17-gru": dict(_D2L_017, num_hiddens=256, cell="gru"),
    "d2l-0.17-gru-concise": dict(_D2L_017, num_hiddens=256, cell="gru", reset_after=True,
                                 init="uniform"),
    "d2l-0.17-lstm": dict(_D2L_017, num_hiddens=256, cell="lstm"),
    "d2l-0.17-deep-lstm": dict(_D2L_017, num_hiddens=256, cell="lstm", num_layers=2, lr=2.0,
                               init="uniform"),
    "d2l-0.17-bilstm": dict(_D2L_017, num_hiddens=256, cell="lstm", num_layers=2,
                            bidirectional=True, init="uniform"),
}

#: What the book reports for each preset: (metric, value).
BOOK_RESULTS = {"d2l-0.17": ("train_ppl", 1.0), "d2l-0.17-random": ("train_ppl", 1.5),
                "d2l-0.17-concise": ("train_ppl", 1.3), "d2l-1.0": ("val_ppl", 7.2),
                "d2l-0.17-gru": ("train_ppl", 1.1), "d2l-0.17-gru-concise": ("train_ppl", 1.0),
                "d2l-0.17-lstm": ("train_ppl", 1.1), "d2l-0.17-deep-lstm": ("train_ppl", 1.0),
                "d2l-0.17-bilstm": ("train_ppl", 1.1)}

SAMPLINGS = ("sequential", "random", "windowed")


def preset_config(name: str, **overrides) -> dict:
    """The full config of preset ``name`` with ``overrides`` (config keys, e.g.
    ``num_hiddens=64``; ``clip=None``: no clipping), each checked by its setting.

    Raises:
        ValueError: an unknown preset or key, a value its setting refuses (naming the
            key), or a window setting without windowed data.
    """
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {name!r}")
    unknown = sorted(set(overrides) - set(DEFAULT_CONFIG))
    if unknown:
        raise ValueError(f"unknown config keys {unknown}; known: {sorted(DEFAULT_CONFIG)}")
    for key, value in overrides.items():
        SETTINGS[key].check(value)
    config = {**DEFAULT_CONFIG, **PRESETS[name], "preset": name, **overrides}
    if config["sampling"] != "windowed":             # windows are the windowed data's only
        given = [SETTINGS[k].flag for k in WINDOW_KEYS if overrides.get(k) is not None]
        if given:
            raise ValueError(f"{' and '.join(given)} {'applies' if len(given) == 1 else 'apply'} "
                             f"only to --sampling windowed (its training and validation "
                             f"windows), not to --sampling {config['sampling']}")
        config.update(dict.fromkeys(WINDOW_KEYS))    # not used: None in config.json, not 10000
    return config


#: The settings of windowed data only.
WINDOW_KEYS = ("num_train", "num_val")


def _seeds(seed: int) -> dict:
    """Independent generators for the model's init, the data order and the trainer."""
    data, model, trainer = np.random.SeedSequence(seed).spawn(3)
    return {"data": np.random.default_rng(data), "model": np.random.default_rng(model),
            "trainer": int(trainer.generate_state(1)[0])}


def make_data(config: dict, vocab=None):
    """The corpus ids, data object and Vocab of a config; errors before any training.

    Returns:
        (data, vocab): a ``SeqDataLoader`` or ``WindowedData``, and the Vocab.
    """
    if config["sampling"] not in SAMPLINGS:
        raise ValueError(f"sampling must be one of {', '.join(SAMPLINGS)}, got {config['sampling']!r}")
    raw = load_corpus(config["corpus"])
    corpus, vocab = build_corpus(raw, config["token"], vocab=vocab, max_tokens=config["max_tokens"])
    rng = _seeds(config["seed"])["data"]
    if config["sampling"] == "windowed":
        data = WindowedData(corpus, config["num_steps"], num_train=config["num_train"],
                            num_val=config["num_val"], batch_size=config["batch_size"], seed=rng)
    else:
        data = SeqDataLoader(corpus, config["batch_size"], config["num_steps"],
                             use_random_iter=config["sampling"] == "random", seed=rng)
    return data, vocab


#: The run config's keys that are the language model's constructor arguments.
MODEL_KEYS = ("cell", "num_hiddens", "num_layers", "bidirectional", "dropout", "reset_after",
              "embed_dim", "tie_weights", "nonlinearity", "init", "sigma")

#: Keys added to the run config since version-1 checkpoints, with the value they implied.
LATER_KEYS = {"model": "rnnlm", "tie_weights": False, "cell": "rnn", "num_layers": 1,
              "bidirectional": False, "dropout": 0.0, "reset_after": False}


def model_config(config: dict, vocab_size: int) -> dict:
    """The model's part of a run config, as the registry takes it."""
    return {"vocab_size": vocab_size, **{k: config[k] for k in MODEL_KEYS}}


def run_bytes(config: dict, vocab_size: int) -> int:
    """About how many bytes a run of an RNN language model holds (float32): its
    parameters, their gradients and two optimizer buffers (Adam's), and one batch's
    caches and logits.  Python ints: no overflow, whatever the sizes."""
    get = {**DEFAULT_CONFIG, **config}.get
    H, L, V = get("num_hiddens"), get("num_layers"), vocab_size
    D = 2 if get("bidirectional") else 1
    gates = {"rnn": 1, "gru": 3, "lstm": 4}.get(get("cell"), 4)
    E = get("embed_dim") or 0
    params = V * E + H * D * V + V
    for layer in range(L):
        inputs = (E or V) if layer == 0 else H * D
        params += D * gates * (inputs * H + H * H + 2 * H)
    batch = get("batch_size") * get("num_steps") * (L * D * H * (gates + 3) + 3 * V + E)
    return 4 * (4 * params + batch)


def check_run_memory(config: dict, vocab_size: int, copies: int = 1,
                     flags: str = "--hidden, --layers, --embed-dim, --batch or --steps") -> None:
    """Refuse a run (or ``copies`` runs side by side) that no memory of this machine can
    hold, before anything is allocated: a ``SizeError`` (a ``MemoryError``) naming
    ``flags``, the settings to lower."""
    check_memory(copies * run_bytes(config, vocab_size), "the model, its gradients and a "
                 "batch", flags)


def make_model(config: dict, vocab_size: int):
    """The language model of a config, built by name from the registry (its init drawn
    from the config's seed).  Sizes no memory can hold are a ``MemoryError``."""
    check_run_memory(config, vocab_size)
    try:
        return build_model(config["model"], model_config(config, vocab_size),
                           rng=_seeds(config["seed"])["model"])
    except ValueError as err:
        if "array is too big" in str(err):           # NumPy's word for more than 2^63 bytes
            raise MemoryError(f"its parameters would take more than 2^63 bytes: {err}") from None
        raise


def make_trainer(config: dict, model, data, vocab, **kwargs) -> Trainer:
    """A ``Trainer`` with a config's settings; ``kwargs`` go to ``Trainer`` (checkpoint,
    progress, log, callback)."""
    return Trainer(model, data, vocab=vocab, optimizer=config["optimizer"], lr=config["lr"],
                   clip=config["clip"], bptt=config["bptt"], bptt_p=config["bptt_p"],
                   seed=_seeds(config["seed"])["trainer"], sample_every=config["sample_every"],
                   sample_prefix=config["prefix"], num_preds=config["num_preds"],
                   token=config["token"], config=config, **kwargs)
