"""Step serialization of reasoning text; each line's steps are kept per (line, min_tokens), values unchanged."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mosseval.prr import rouge, steps
from mosseval.prr.steps import split_sentences, split_steps, strip_markers


def test_none_and_empty():
    assert split_steps(None) == ([], False)
    assert split_steps("") == ([], False)
    assert split_steps("  \n\n ") == ([], False)


def test_newlines_then_sentences():
    text = "The red ball starts on the left. It rolls to the center!\nThe blue cube appears at 4 s."
    steps, trunc = split_steps(text)
    assert steps == [
        "The red ball starts on the left.",
        "It rolls to the center!",
        "The blue cube appears at 4 s.",
    ]
    assert trunc is False


@pytest.mark.parametrize(
    "line,expected",
    [
        ("1. The ball moves left", "The ball moves left"),
        ("12) The ball moves left", "The ball moves left"),
        ("(3) The ball moves left", "The ball moves left"),
        ("[4] The ball moves left", "The ball moves left"),
        ("(a) The ball moves left", "The ball moves left"),
        ("b) The ball moves left", "The ball moves left"),
        ("- The ball moves left", "The ball moves left"),
        ("* The ball moves left", "The ball moves left"),
        ("• The ball moves left", "The ball moves left"),
        ("Step 2: The ball moves left", "The ball moves left"),
        ("step 10 - The ball moves left", "The ball moves left"),
        ("STEP 3. The ball moves left", "The ball moves left"),
        ("**Step 1:** The ball moves left", "The ball moves left"),
        ("## Step 5: The ball moves left", "The ball moves left"),
        ("- Step 2: The ball moves left", "The ball moves left"),
        ("1. (a) The ball moves left", "The ball moves left"),
    ],
)
def test_markers_stripped(line, expected):
    assert strip_markers(line) == expected
    assert split_steps(line)[0] == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "3.5 seconds later the ball stops",
        "The ball moves 3.5 cm in 0.5 s toward the cube",
        "Version v1.2 of the scene shows a ball",
        "It happens at 00:03.5 in the clip",
        "The ball moves, e.g. to the left, and stops",
        "The ball, i.e. the red one, moves away",
        "The speed is approx. 2 m per second here",
        "Compare with Fig. 3 for the same ball",
        "The ball sits at No. 5 on the shelf",
    ],
)
def test_no_split_inside_numbers_or_abbreviations(text):
    steps, _ = split_steps(text)
    assert steps == [text]


def test_inline_enumeration():
    steps, _ = split_steps("1. The ball moves left. 2. The cube turns blue. 3. The box opens wide.")
    assert steps == ["The ball moves left.", "The cube turns blue.", "The box opens wide."]


def test_quotes_and_brackets_after_sentence_end():
    assert split_sentences('He said "the ball stops." Then the cube moves.') == [
        'He said "the ball stops."',
        "Then the cube moves.",
    ]
    assert split_sentences("The ball (red.) Then it stops.") == ["The ball (red.)", "Then it stops."]


def test_cjk_sentence_ends():
    assert split_sentences("球在移动。然后停止了。") == ["球在移动。", "然后停止了。"]


def test_min_tokens_uses_rouge_tokens():
    # "ok." has 1 token, "It moves." 2, "The ball moves." 3 ("3.5" counts as two tokens: 3 and 5)
    steps, _ = split_steps("Ok. It moves. The ball moves. At 3.5 s.")
    assert steps == ["The ball moves.", "At 3.5 s."]
    assert split_steps("It moves.", min_tokens=2)[0] == ["It moves."]
    assert split_steps("Ok.", min_tokens=0)[0] == ["Ok."]
    # punctuation-only and non-Latin fragments have no ROUGE tokens
    assert split_steps("...\n---\n视频中球在移动")[0] == []


def test_cap_and_truncation_flag():
    text = "\n".join(f"Step {i}: the ball moves to slot {i}" for i in range(1, 11))
    steps, trunc = split_steps(text, max_steps=4)
    assert len(steps) == 4 and trunc is True
    assert steps[0] == "the ball moves to slot 1"
    steps, trunc = split_steps(text, max_steps=10)
    assert len(steps) == 10 and trunc is False


def test_line_endings():
    steps, _ = split_steps("The ball moves left\r\nThe cube turns blue\rThe box opens now")
    assert steps == ["The ball moves left", "The cube turns blue", "The box opens now"]


# --------------------------------------------------------------------------- reference traces

from mosseval.prr.steps import steps_from_list, steps_from_paragraph, time_span  # noqa: E402


@pytest.mark.parametrize("text,span", [
    ("0:07-0:55, two women fight", (7.0, 55.0)),
    ("0:07–0:55 two women fight", (7.0, 55.0)),
    ("From 0:33 to 0:36, the car explodes", (33.0, 36.0)),
    ("from 1:05 until 1:20 he waits", (65.0, 80.0)),
    ("Between 0:10 and 0:20 the dog runs", (10.0, 20.0)),
    ("Between 2:55 and 1:02, they fight", (175.0, None)),  # an annotation slip: the start is kept
    ("At 01:12 the man enters", (72.0, None)),
    ("01:12 - 01:30 the man waits", (72.0, 90.0)),
    ("1:02:03-1:02:09 a goal", (3723.0, 3729.0)),
    ("at 75:30 the credits roll", (4530.0, None)),  # minutes past an hour, MM:SS style
    ("at 00:12.5 it starts", (12.5, None)),
    ("the 10:00 train and then 0:05-0:09 later", (600.0, None)),  # the first time named decides
    ("at 5:00 and 6:00 he claps", (300.0, None)),  # 'and' makes a range only after 'between'
    ("at 3.5 s the ball moves", (None, None)),
    ("version 1.2:30", (None, None)),
    ("score 12:60 is no time", (None, None)),
    ("no time here", (None, None)),
])
def test_time_span(text, span):
    assert time_span(text) == span


VCR_REASONING = [  # the published format of VCR-Bench `reasoning` (meta_info_video.json)
    "1. 0:08-0:30, a series of explosions occurred in the parking lot, and a woman was trapped in the car.",
    "2. 0:30-0:33, the Black man noticed the woman was trapped and stepped forward to prepare for rescue.",
    "3. From 0:33 to 0:36, the location of the woman's vehicle exploded again. This prevented the rescue.",
    "4. Therefore, the Black man was pushed back by another explosion.",
]


def test_numbered_steps_with_time_ranges():
    steps = steps_from_list(VCR_REASONING)
    assert [(s.start, s.end) for s in steps] == [(8.0, 30.0), (30.0, 33.0), (33.0, 36.0), (33.0, 36.0),
                                               (None, None)]
    assert steps[0].text.startswith("0:08-0:30, a series of explosions")  # marker gone, time text kept
    assert steps[3].text == "This prevented the rescue."  # a second sentence keeps its element's range
    # a trace that repeats the reference is split into exactly these steps
    assert split_steps("\n".join(s.text for s in steps))[0] == [s.text for s in steps]


MINERVA_REASONING = (
    "I look at 00:12 where the chef adds salt. Between 01:05 and 01:20 he stirs the pot twice, "
    "then at 02:10 - 02:30 he tastes it. The salt was added before stirring, so the answer is the first option."
)


def test_paragraph_with_inline_timestamps():
    steps = steps_from_paragraph(MINERVA_REASONING)
    assert [(s.start, s.end) for s in steps] == [(12.0, None), (65.0, 80.0), (None, None)]
    assert steps[1].text.startswith("Between 01:05 and 01:20 he stirs")
    assert split_steps("\n".join(s.text for s in steps))[0] == [s.text for s in steps]
    assert steps_from_paragraph("") == [] and steps_from_paragraph(None) == []


_MARKERISH = st.text(alphabet=list("#>*_-•·‣◦▪–—+()[]0123456789٣.:aAbZsStTeEpPſK \t"), max_size=14)


@settings(max_examples=400, deadline=None)
@given(st.one_of(_MARKERISH, st.text(max_size=20), st.tuples(_MARKERISH, st.text(max_size=10)).map("".join)))
def test_strip_markers_fast_path_changes_nothing(text):
    """strip_markers skips the marker regex for text that cannot start with a marker; same result."""
    from mosseval.prr import steps

    slow, prev = text.strip(), None
    while prev != slow:
        prev = slow
        slow = steps._MARKER_RE.sub("", slow, count=1).strip()
    assert steps.strip_markers(text) == slow

TEXT = "1. At 0 s the ball is left.\nStep 2: Then it moves. It is red now!\nok\n- e.g. a tiny dot stays."


def test_line_steps_are_kept_per_min_tokens_and_equal_a_fresh_split():
    rouge.clear_caches()
    assert not steps._line_steps
    cold = split_steps(TEXT, 64, 4)
    assert cold == (["At 0 s the ball is left.", "It is red now!", "e.g. a tiny dot stays."], False)
    assert steps._line_steps  # remembered
    assert split_steps(TEXT, 64, 4) == cold
    assert split_steps(TEXT, 64, 1) == (["At 0 s the ball is left.", "Then it moves.", "It is red now!", "ok",
                                         "e.g. a tiny dot stays."], False)
    assert split_steps(TEXT, 64, 3)[0] == ["At 0 s the ball is left.", "Then it moves.", "It is red now!",
                                           "e.g. a tiny dot stays."]
    assert split_steps(TEXT, 2, 1) == (["At 0 s the ball is left.", "Then it moves."], True)
    assert sorted(steps._line_steps) == [1, 3, 4]  # a cache a min_tokens, each line once in each
    assert all(len(c) == len(TEXT.splitlines()) for c in steps._line_steps.values())
    rouge.clear_caches()
    assert not steps._line_steps and split_steps(TEXT, 64, 4) == cold
