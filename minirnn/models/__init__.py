"""Models built from the layers, one module per family, and the one protocol they share.

==================  ======================  ===========================================
module              models (registry name)  the chapter's shape
==================  ======================  ===========================================
``language``        ``RNNLM`` (rnnlm)       the book's language model, chapters 9 and 10
``classifier``      ``SequenceClassifier``  many-to-one: a sequence -> a label
                    (classifier),
                    ``ConditionalLM``       one-to-many: a label -> a sequence
                    (conditional_lm)
``tagger``          ``SequenceTagger``      aligned many-to-many: a label per step
                    (tagger)
``seq2seq``         ``Seq2Seq`` (seq2seq)   unaligned: the book's encoder-decoder
``seq2seq_         ``Seq2SeqAttention``    the same, with the Bahdanau decoder: the
attention``         (seq2seq_attention)     context recomputed by attention at each step
``regression``      ``LinearRegression``,   the sequence-models section: a window of
                    ``MLP`` (mlp),          ``tau`` values -> the next value
                    ``RNNRegressor``        (linear_regression, rnn_regressor)
``base``            ``recurrent_stack``, ``check_ids``, ``Batch``: what models share
``registry``        ``MODELS``, ``register_model``, ``build_model``, ``model_name``
==================  ======================  ===========================================

The model protocol
------------------
Every model has the same names, so one ``Trainer`` (``minirnn.train``), checkpoints
(``minirnn.checkpoint``) and gradient checks (``minirnn.gradcheck.check_layer``) work on
any of them; it is the recurrent layers' contract one level up::

    outputs, state = model.forward(inputs, state=None, lengths=None)
    dgrad = model.backward(doutputs, dstate=None)    # adds into model.grads

* ``inputs``: token ids ``(B, T)`` (language model, classifier, tagger); features
  ``(B, tau)`` (regressors); a tuple for models that read two things: ``(ids, classes)``
  (``ConditionalLM``), ``(src, tgt_in)`` (``Seq2Seq``, teacher forcing).
* ``state``: the recurrent state to start from, a tuple ``(h,)`` (LSTM ``(h, c)``) of
  ``(num_layers * num_directions, B, H)`` arrays; None starts from the model's own
  (zeros; the class's ``h_0`` for ``ConditionalLM``; the encoder's for ``Seq2Seq``).
  The returned ``state`` is the final one (None for the regressors): the trainer carries it into
  the next minibatch of sequential partitioning.
* ``lengths``: ``(B,)`` ints in ``[1, T]`` for padded batches, None when every row is
  real (``Seq2Seq``: the pair ``(src_lengths, tgt_lengths)``).
* ``outputs``: what the loss reads: logits ``(B, T, V)`` per step, ``(B, C)`` per sequence,
  predictions ``(B, 1)`` for the regressors.
* ``backward(doutputs, dstate=None)``: ``dL/doutputs`` and, optionally, ``dL/dstate_T``;
  adds every parameter's gradient into ``grads`` and returns the gradient of what
  ``forward`` was given that has one: ``dL/dstate0`` for the recurrent models (a tuple like
  the state; None when the state was the model's own, computed from its parameters, as
  ``ConditionalLM``'s and ``Seq2Seq``'s), ``dL/dinputs`` for the regressors.
* ``params`` / ``grads``: dicts with the same dotted keys (``"rnn.W_hh"``), the layers'
  own arrays; ``zero_grad()``; ``config()``: the JSON-able constructor arguments that
  ``build_model(model.model_name, config)`` rebuilds the model from; ``train()`` /
  ``eval()`` (dropout on or off; ``minirnn.layers.evaluating`` for a ``with`` block);
  ``astype(np.float64)`` for gradient checks.

Batches have one form, ``Batch(inputs, targets, lengths=None, mask=None)``: what
``forward`` reads, what the loss compares the outputs with, the lengths of the inputs and
the mask ``(B, T)`` of the targets that count in the loss (None: all of them).  The
trainer's one step (``minirnn.train.train_step``) is, for every model::

    model.zero_grad()
    outputs, state = model.forward(batch.inputs, state, batch.lengths)
    loss_value = loss.forward(outputs, batch.targets, mask=batch.mask)
    model.backward(loss.backward())
    clip_grad_norm(model.grads, clip); optimizer.step()

Writing a model: subclass ``minirnn.layers.Module``, ``add`` its layers, build the
recurrent part with ``recurrent_stack(cell, ...)``, check ids with ``check_ids`` before
anything changes, follow the protocol above and decorate the class with
``@register_model("name")`` so that checkpoints rebuild it.
"""
from .base import CELLS, Batch, check_ids, check_labels, input_layer, recurrent_stack
from .classifier import CONDITIONINGS, ConditionalLM, SequenceClassifier
from .language import RNNLM
from .registry import MODELS, build_model, model_name, register_model
from .regression import MLP, AddingRegressor, LinearRegression, RNNRegressor
from .seq2seq import Seq2Seq, Seq2SeqDecoder, Seq2SeqEncoder
from .seq2seq_attention import AttentionDecoder, Seq2SeqAttention
from .tagger import SequenceTagger

__all__ = ["MODELS", "CELLS", "Batch", "register_model", "build_model", "model_name",
           "recurrent_stack", "check_ids", "check_labels", "input_layer", "RNNLM", "MLP",
           "LinearRegression", "AddingRegressor",
           "RNNRegressor", "SequenceTagger", "Seq2SeqEncoder", "Seq2SeqDecoder", "Seq2Seq",
           "AttentionDecoder", "Seq2SeqAttention",
           "SequenceClassifier", "ConditionalLM", "CONDITIONINGS"]
