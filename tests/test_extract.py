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
    # conclusive statements outrank options merely mentioned on the way
    ("Option A is red and option C is green.", OPTS4, None, "ambiguous"),  # no conclusion: both mentioned
    ("Option E is not listed, so option B", OPTS4, "B", "ok"),
    ("The answer is not A.", OPTS4, None, "unparsed"),  # a negation names no answer
    ("The answer is A, or maybe the answer is B.", OPTS4, None, "ambiguous"),
    ("**Final Answer:** A or B", OPTS4, None, "ambiguous"),
    ("\\boxed{A} or \\boxed{B}", OPTS4, None, "ambiguous"),
    ("The answer is C. \\boxed{B}", OPTS4, None, "ambiguous"),  # statement and box disagree
    ("\\boxed{42}", OPTS4, None, "unparsed"),  # a box that names no option
    ("\\boxed{E}", OPTS4, None, "unparsed"),  # E is not an option here
    ("\\boxed{A dog}", OPTS4, None, "unparsed"),  # the article inside a box is still no option
]

# Forms the strict extractor accepts (issue 15, item 7). Each of these was unparsed or ambiguous before.
NEW_FORMS = [
    ("\\boxed{C}", OPTS4, "C"),
    ("$\\boxed{C}$", OPTS4, "C"),
    ("So the correct choice is $\\boxed{\\text{D}}$.", OPTS4, "D"),
    ("The colour at the end is green, hence \\boxed{C}.", OPTS4, "C"),
    ("<think>green appears last</think><answer>\\boxed{C}</answer>", OPTS4, "C"),
    ("<think>green appears last</think>\n\\boxed{C}", OPTS4, "C"),  # outside <answer> (none given)
    ("\\boxed{(B) blue}", OPTS4, "B"),
    ("\\boxed{\\text{yellow}}", OPTS4, "D"),
    ("**Final Answer:** C", OPTS4, "C"),
    ("**Final Answer**: C", OPTS4, "C"),
    ("Final answer: **B**", OPTS4, "B"),
    ("**Answer: (D)**", OPTS4, "D"),
    ("Therefore, the final answer is: $B$", OPTS4, "B"),
    ("Option A says red, which the video contradicts. Option C is green, which appears too late. "
     "The answer is B.", OPTS4, "B"),
    ("A is wrong (the cube is not red) and (C) is wrong too.\nThe answer is B.", OPTS4, "B"),
    ("Let us check each choice: choice A fails, choice D fails.\nTherefore, the best option is C.", OPTS4, "C"),
]


@pytest.mark.parametrize("text,options,letter,status", CASES)
def test_extract_choice(text, options, letter, status):
    ex = extract_choice(text, options)
    assert (ex.letter, ex.status) == (letter, status)


@pytest.mark.parametrize("text,options,letter", NEW_FORMS)
def test_new_answer_forms(text, options, letter):
    ex = extract_choice(text, options)
    assert (ex.letter, ex.status) == (letter, "ok")


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


def test_short_answers_are_decided_once_per_options():
    """Short answer blocks are memoised by (answer, options): the options are part of the key."""
    from mosseval.extract import extract_choice

    four = {"A": "red", "B": "blue", "C": "green", "D": "7"}
    two = {"A": "red", "C": "green"}
    assert extract_choice("<answer>B</answer>", four).letter == "B"
    assert extract_choice("<think>x</think><answer>B</answer>", two).letter is None  # B is no option here
    assert extract_choice("<answer>B</answer>", four).letter == "B"
    assert extract_choice("<answer>green</answer>", four).letter == "C"
    assert extract_choice("<answer>green</answer>", {**four, "C": "teal"}).letter is None
    assert extract_choice("<answer>green</answer>", ["red", "green"]).letter == "B"
    assert extract_choice("<answer>B</answer>", []).letter == extract_choice("B", None).letter == "B"
