"""Table-driven tests for the strict multiple-choice extractor, with adversarial cases."""

import pytest

from mosseval.extract import check_mc, extract_choice

OPTS4 = {"A": "red", "B": "blue", "C": "green", "D": "yellow"}
OPTS7 = {k: f"option {k.lower()}" for k in "ABCDEFG"}

CASES = [
    # (text, options, expected letter, expected status)
    ("B", OPTS4, "B", "ok"),
    ("(b)", OPTS4, "B", "ok"),
    (" C. ", OPTS4, "C", "ok"),
    ("The answer is C.", OPTS4, "C", "ok"),
    ("Answer: (c)", OPTS4, "C", "ok"),
    ("Best option:(B) blue", OPTS4, "B", "ok"),
    ("The best option is D because it turns yellow.", OPTS4, "D", "ok"),
    ("<think>A moves left.\nA is red.</think><answer>D</answer>", OPTS4, "D", "ok"),
    ("<think>The answer is A</think><answer>(B)</answer>", OPTS4, "B", "ok"),  # answer block wins
    ("B. blue", OPTS4, "B", "ok"),
    ("(A) red", OPTS4, "A", "ok"),
    ("D) yellow", OPTS4, "D", "ok"),
    ("B, not A", OPTS4, "B", "ok"),
    ("I think (C) because the square is green", OPTS4, "C", "ok"),
    ("blue", OPTS4, "B", "ok"),  # equals an option text
    ("  Yellow. ", OPTS4, "D", "ok"),
    # the English article "a" is never option A
    ("a dog runs across the field", OPTS4, None, "unparsed"),
    ("It is a square.", OPTS4, None, "unparsed"),
    ("A dog runs across the field", OPTS4, None, "unparsed"),
    # ambiguity is rejected
    ("The answer is A or B", OPTS4, None, "ambiguous"),
    ("answer is (A)/(B)", OPTS4, None, "ambiguous"),
    ("Either (A) or (C) could be right", OPTS4, None, "ambiguous"),
    ("Answer: A. Final answer: B", OPTS4, None, "ambiguous"),
    # letters that are not options are not answers
    ("The answer is E", OPTS4, None, "unparsed"),
    ("option F", OPTS4, None, "unparsed"),
    # letters beyond E when the question has them
    ("The answer is F", OPTS7, "F", "ok"),
    ("(G)", OPTS7, "G", "ok"),
    # empty answers
    ("", OPTS4, None, "empty"),
    ("   \n", OPTS4, None, "empty"),
    (None, OPTS4, None, "empty"),
    ("<think>steps</think><answer>  </answer>", OPTS4, None, "empty"),
    ("I cannot tell from the video.", OPTS4, None, "unparsed"),
]


@pytest.mark.parametrize("text,options,letter,status", CASES)
def test_extract_choice(text, options, letter, status):
    ex = extract_choice(text, options)
    assert (ex.letter, ex.status) == (letter, status)


def test_check_mc_counts_unparsed_as_wrong():
    r = check_mc("a dog", OPTS4, "A")
    assert r.correct is False and r.parse_failed is True
    r = check_mc("B, not A", OPTS4, "A")
    assert r.correct is False and r.parse_failed is False and r.extracted == "B"
    r = check_mc("", OPTS4, "A")
    assert r.correct is False and r.parse_failed is True
    r = check_mc("<answer>a</answer>", OPTS4, "A")
    assert r.correct is True


def test_list_options_map_to_letters():
    assert extract_choice("(B)", ["x", "y", "z"]).letter == "B"
    assert extract_choice("(D)", ["x", "y", "z"]).letter is None
