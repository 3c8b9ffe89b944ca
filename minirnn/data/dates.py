"""Dates as people write them, to translate into ISO 8601: the attention chapter's task.

``"september 27, 1994"``, ``"27 sep 1994"``, ``"9/27/94"`` or ``"tuesday, the 27th of
september 1994"`` -> ``"1994-09-27"`` (the date-format translation of *Deep Learning from
Scratch 2*'s attention chapter).  The month's name must become the month's digits, which
sit elsewhere in the source than in the target: an alignment that attention draws.

Dates are ``datetime.date`` days from 1950-01-01 to 2049-12-31 (two-digit years are
unambiguous: 50-99 are 19xx, 00-49 are 20xx).  ``date_examples`` splits the days with a
seeded permutation: the held-out dates are never seen in training, in any format, and the
formats take turns, so each appears in the training and the held-out examples alike.
"""
from __future__ import annotations

import datetime

import numpy as np

from .._checks import check_positive_int, make_rng
from .text import Vocab

__all__ = ["DATE_FORMATS", "FIRST_DAY", "LAST_DAY", "format_date", "date_examples", "date_vocab"]

FIRST_DAY, LAST_DAY = datetime.date(1950, 1, 1), datetime.date(2049, 12, 31)
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, ..., 21st, 22nd, 23rd, 31st."""
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


#: format name -> how a date is written (each a function of a ``datetime.date``)
DATE_FORMATS = {
    "month d, yyyy": lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",    # september 27, 1994
    "mon d, yyyy": lambda d: f"{MONTHS[d.month - 1][:3]} {d.day}, {d.year}",  # sep 27, 1994
    "d mon yyyy": lambda d: f"{d.day} {MONTHS[d.month - 1][:3]} {d.year}",    # 27 sep 1994
    "d month yyyy": lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",      # 27 september 1994
    "m/d/yy": lambda d: f"{d.month}/{d.day}/{d.year % 100:02d}",              # 9/27/94
    "mm/dd/yyyy": lambda d: f"{d.month:02d}/{d.day:02d}/{d.year}",            # 09/27/1994
    "weekday, the dth of month yyyy": lambda d: (                              # tuesday, the 27th
        f"{WEEKDAYS[d.weekday()]}, the {ordinal(d.day)} of {MONTHS[d.month - 1]} {d.year}"),
    "wkd d mon yy": lambda d: (                                                # tue 27 sep 94
        f"{WEEKDAYS[d.weekday()][:3]} {d.day} {MONTHS[d.month - 1][:3]} {d.year % 100:02d}"),
}


def format_date(day: datetime.date, fmt: str) -> str:
    """``day`` written in the format ``fmt`` (a key of ``DATE_FORMATS``)."""
    if fmt not in DATE_FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(map(repr, DATE_FORMATS))}, got {fmt!r}")
    return DATE_FORMATS[fmt](day)


def date_vocab() -> Vocab:
    """One character vocabulary for sources and targets: ``<unk> <pad> <bos> <eos>``, then
    space, ``,``, ``-``, ``/``, the digits and the letters."""
    chars = sorted(set(" ,-/0123456789") | set("".join(MONTHS + WEEKDAYS)) | set("stndrh"))
    return Vocab(chars, reserved_tokens=("<pad>", "<bos>", "<eos>"))


def date_examples(num_train: int, num_test: int, seed: int = 0, rng=None):
    """``(train, test)``: lists of ``(source, target, format)`` string triples, e.g.
    ``("27 sep 1994", "1994-09-27", "d mon yyyy")``.

    The days from ``FIRST_DAY`` to ``LAST_DAY`` are shuffled (seeded); the first
    ``num_test`` are the held-out dates, the next ``num_train`` the training dates (each
    date once).  Example i is written in format i mod 8 after a seeded shuffle of the
    formats per example, so every format appears ``n / 8`` times (rounded) on each side.
    """
    num_train = check_positive_int(num_train, "num_train")
    num_test = check_positive_int(num_test, "num_test")
    num_days = (LAST_DAY - FIRST_DAY).days + 1
    if num_train + num_test > num_days:
        raise ValueError(f"num_train + num_test must be at most {num_days} (the distinct days "
                         f"from {FIRST_DAY} to {LAST_DAY}), got {num_train + num_test}")
    rng = make_rng(seed, rng)
    order = rng.permutation(num_days)
    names = list(DATE_FORMATS)

    def examples(offsets):
        formats = rng.permutation(np.arange(len(offsets)) % len(names))   # each format its share
        out = []
        for offset, f in zip(offsets, formats):
            day = FIRST_DAY + datetime.timedelta(days=int(offset))
            out.append((format_date(day, names[f]), day.isoformat(), names[f]))
        return out

    test = examples(order[:num_test])
    return examples(order[num_test:num_test + num_train]), test
