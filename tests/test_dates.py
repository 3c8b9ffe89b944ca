"""The dates task's data (``minirnn.data.dates``): what each format writes, read back with
``datetime.strptime``; held-out dates never in training; every format on both sides."""
import datetime
import re
from collections import Counter

import pytest

from minirnn.data.dates import DATE_FORMATS, date_examples, date_vocab, format_date

#: strptime's reading of each format (two-digit years: see ``read_back``)
STRPTIME = {"month d, yyyy": "%B %d, %Y", "mon d, yyyy": "%b %d, %Y", "d mon yyyy": "%d %b %Y",
            "d month yyyy": "%d %B %Y", "m/d/yy": "%m/%d/%y", "mm/dd/yyyy": "%m/%d/%Y",
            "weekday, the dth of month yyyy": "%A, the %d of %B %Y", "wkd d mon yy": "%a %d %b %y"}


def read_back(source: str, fmt: str) -> datetime.date:
    source = re.sub(r"(\d+)(st|nd|rd|th) of", r"\1 of", source)
    day = datetime.datetime.strptime(source, STRPTIME[fmt]).date()
    if "%y" in STRPTIME[fmt] and day.year >= 2050:            # strptime: 69-99 -> 19xx only
        day = day.replace(year=day.year - 100)
    return day


def test_the_books_examples():
    day = datetime.date(1994, 9, 27)
    assert format_date(day, "month d, yyyy") == "september 27, 1994"
    assert format_date(day, "d mon yyyy") == "27 sep 1994"
    assert format_date(day, "m/d/yy") == "9/27/94"
    assert format_date(day, "weekday, the dth of month yyyy") == "tuesday, the 27th of september 1994"
    assert format_date(datetime.date(2011, 3, 1), "weekday, the dth of month yyyy") == \
        "tuesday, the 1st of march 2011"
    assert format_date(datetime.date(2012, 3, 12), "wkd d mon yy") == "mon 12 mar 12"


def test_sources_read_back_to_their_targets_and_split_cleanly():
    train, test = date_examples(4000, 800, seed=3)
    assert len(train) == 4000 and len(test) == 800
    for source, target, fmt in train + test:
        assert read_back(source, fmt).isoformat() == target, (source, fmt)
    assert not {t for _, t, _ in train} & {t for _, t, _ in test}      # held-out dates unseen
    assert len({t for _, t, _ in train}) == 4000                        # each date once
    for side in (train, test):
        counts = Counter(f for _, _, f in side)
        assert set(counts) == set(DATE_FORMATS)
        assert max(counts.values()) - min(counts.values()) <= 1
    years = [int(t[:4]) for _, t, _ in train]
    assert min(years) < 1960 and max(years) > 2040


def test_seeded_and_the_vocabulary_covers_everything():
    assert date_examples(50, 10, seed=1) == date_examples(50, 10, seed=1)
    assert date_examples(50, 10, seed=1) != date_examples(50, 10, seed=2)
    vocab = date_vocab()
    train, test = date_examples(3000, 100, seed=0)
    chars = set("".join(s + t for s, t, _ in train + test))
    assert all(c in vocab.token_to_idx for c in chars)
    assert vocab["<unk>"] == 0


@pytest.mark.parametrize("args, message", [
    ((0, 10), "num_train must be a positive int, got 0"),
    ((10, -1), "num_test must be a positive int, got -1"),
    ((36000, 1000), r"num_train \+ num_test must be at most 36525"),
])
def test_bad_sizes_in_one_line(args, message):
    with pytest.raises(ValueError, match=message) as info:
        date_examples(*args)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="fmt must be one of"):
        format_date(datetime.date(2000, 1, 1), "yyyy")
