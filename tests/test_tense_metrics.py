"""The lab's scores against values worked out by hand."""
import math

import pytest

from contextlm.tense.metrics import bleu4, distinct_matches, exact_accuracy, gaussian_score, mean_bleu4


def test_bleu4_identical_word_is_one():
    assert bleu4("accessing", "accessing") == pytest.approx(1.0)


def test_bleu4_short_output_pays_brevity_penalty():
    # every 1..4-gram of "abandon" is in "abandoned": all precisions 1, so BLEU = BP = exp(1 - 9/7)
    assert bleu4("abandon", "abandoned") == pytest.approx(math.exp(1 - 9 / 7), abs=1e-9)


def test_bleu4_three_letter_reference_uses_trigram_weights_and_method1():
    # p1 = 2/3, p2 = 1/2, p3 = 0 -> method 1 puts 0.1 on the numerator: 0.1/1; weights 0.33 each; BP = 1
    expected = math.exp(0.33 * (math.log(2 / 3) + math.log(1 / 2) + math.log(0.1 / 1)))
    assert bleu4("abc", "abd") == pytest.approx(expected, abs=1e-9)


def test_bleu4_longer_output_with_one_wrong_letter():
    # "walkes" vs "walked": p1 = 5/6, p2 = 4/5, p3 = 3/4, p4 = 2/3, no brevity penalty (same length)
    expected = math.exp(0.25 * sum(math.log(p) for p in (5 / 6, 4 / 5, 3 / 4, 2 / 3)))
    assert bleu4("walkes", "walked") == pytest.approx(expected, abs=1e-9)


def test_mean_bleu4_and_errors():
    assert mean_bleu4(["walked", "abandon"], ["walked", "abandoned"]) == pytest.approx(
        (1 + math.exp(1 - 9 / 7)) / 2)
    with pytest.raises(ValueError, match="2 outputs for 1 references"):
        mean_bleu4(["a", "b"], ["a"])
    with pytest.raises(ValueError):
        mean_bleu4([], [])


def test_gaussian_score_counts_tuples_equal_to_a_training_line_once():
    train = [("walk", "walks", "walking", "walked"), ("walk", "walks", "walking", "walked"),
             ("run", "runs", "running", "ran")]
    generated = [("walk", "walks", "walking", "walked"),   # hit (duplicated line still counts once)
                 ["run", "runs", "running", "ran"],         # hit (lists compare like tuples)
                 ("run", "runs", "running", "runned"),      # one form wrong: miss
                 ("walk", "walks", "walking", "walked")]    # hit again: same verb
    assert gaussian_score(generated, train) == pytest.approx(3 / 4)
    assert distinct_matches(generated, train) == 2
    with pytest.raises(ValueError):
        gaussian_score([], train)


def test_exact_accuracy():
    assert exact_accuracy(["ran", "runed", "running"], ["ran", "ran", "running"]) == pytest.approx(2 / 3)
