"""Text data for language models: corpora, tokens, vocabularies and minibatches.

This is section "Converting raw text into sequences" and the minibatch part of
"Language models" of the book, in NumPy:

    raw text --preprocess--> letters and spaces --tokenize--> tokens --Vocab--> ids
    ids --seq_data_iter_random / seq_data_iter_sequential / WindowedData--> (X, Y)

Four modules, each importing only the ones before it (padding imports none):

* ``minirnn.data.corpus``: finding, checking (SHA-1) and downloading the corpora
  (``load_time_machine``, ``load_corpus``, ``load_text``, ``data_dirs``, ``CORPORA``);
* ``minirnn.data.text``: ``preprocess``, ``tokenize``, ``Vocab``, ``build_corpus`` and
  ``load_corpus_time_machine`` (a corpus as int64 token ids);
* ``minirnn.data.batches``: the book's minibatch iterators (``seq_data_iter_random``,
  ``seq_data_iter_sequential``, ``SeqDataLoader``, ``load_data_time_machine``) and the
  1.0 book's stride-1 windows (``WindowedData``);
* ``minirnn.data.padding``: variable-length batches (``pad_sequences``, ``sequence_mask``,
  ``bucket_batches``, ``check_lengths``).

Every public name is importable from ``minirnn.data`` itself, as the book's ``d2l``
module has them in one place. The synthetic sine series of "Working with sequences"
(``sine_series``, ``window_series``, ``load_array``) is not here: it lives with its
models in ``minirnn.sequence``, so importing ``minirnn.data`` loads no model, trainer
or progress bar.

Minibatches ``(X, Y)`` are int64 token ids of shape ``(B, T)`` (B batch size, T time
steps), ``Y`` being ``X`` shifted one token to the left. A named corpus is read only from
a copy whose SHA-1 is right, found in ``root``, ``$MINIRNN_DATA`` or ``~/.cache/minirnn``,
then ``../data``, else downloaded (``minirnn.data.corpus`` says how).
"""
from .batches import (SeqDataLoader, Updates, WindowedData, load_data_time_machine,
                      seq_data_iter_random, seq_data_iter_sequential)
from .corpus import (CORPORA, MAX_CORPUS_BYTES, ChecksumError, CorpusNotFoundError, data_dirs,
                     load_corpus, load_text, load_time_machine)
from .padding import PairBatches, bucket_batches, check_lengths, pad_sequences, sequence_mask
from .text import Vocab, build_corpus, load_corpus_time_machine, preprocess, tokenize

__all__ = [
    "CORPORA", "MAX_CORPUS_BYTES", "ChecksumError", "CorpusNotFoundError", "data_dirs",
    "load_time_machine", "load_text",
    "load_corpus", "preprocess", "tokenize", "Vocab", "build_corpus",
    "load_corpus_time_machine", "seq_data_iter_random", "seq_data_iter_sequential", "Updates",
    "SeqDataLoader", "load_data_time_machine", "WindowedData",
    "pad_sequences", "sequence_mask", "bucket_batches", "check_lengths", "PairBatches",
]
