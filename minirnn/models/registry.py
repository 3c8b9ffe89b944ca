"""The registry: a model's name -> its class.

``build_model(name, config)`` rebuilds any registered model from what its ``config()``
returned, so checkpoints, the trainer, ``generate`` and the command line never name a
model class.
"""
from __future__ import annotations

__all__ = ["MODELS", "register_model", "model_name", "build_model"]

MODELS: dict[str, type] = {}


def register_model(name: str):
    """Class decorator: register ``cls`` under ``name`` (its ``model_name``)."""
    def register(cls):
        if name in MODELS and MODELS[name] is not cls:
            raise ValueError(f"a model named {name!r} is registered already: {MODELS[name].__name__}")
        MODELS[name] = cls
        cls.model_name = name
        return cls
    return register


def model_name(model) -> str:
    """The registry name of ``model`` (``'rnnlm'``)."""
    name = getattr(type(model), "model_name", None)
    if name is None or MODELS.get(name) is not type(model):
        raise TypeError(f"model must be a registered minirnn model ({', '.join(MODELS)}), "
                        f"got {type(model).__name__}")
    return name


def build_model(name: str, config: dict, **kwargs):
    """A new model ``MODELS[name](**config, **kwargs)`` (kwargs: ``seed``, ``rng``, ``dtype``)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered: {', '.join(sorted(MODELS))}")
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict of constructor arguments, got {type(config).__name__}")
    try:
        return MODELS[name](**config, **kwargs)
    except TypeError as err:                                   # an unknown or missing argument
        raise ValueError(f"config does not fit model {name!r}: {err}") from None
