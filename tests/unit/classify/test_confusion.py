"""confusion.py: the confusion matrix and its figures, against counts worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from seq2seq.classify.metrics import class_scores, confusion_matrix, confusion_table, label_table

# 7 examples of 3 labels; a 4th label exists but never occurs
GOLD = np.array([0, 0, 1, 1, 2, 2, 2])
PREDICTED = np.array([0, 1, 1, 1, 2, 0, 2])


def test_the_confusion_matrix_counts_reference_rows_by_predicted_columns():
    assert confusion_matrix(GOLD, PREDICTED, 4).tolist() == [
        [1, 1, 0, 0],
        [0, 2, 0, 0],
        [1, 0, 2, 0],
        [0, 0, 0, 0],
    ]


def test_figures_match_the_hand_computed_ones():
    s = class_scores(confusion_matrix(GOLD, PREDICTED, 4))
    assert s.accuracy == pytest.approx(100 * 5 / 7)
    # label 0: 1 of 2 predictions right, 1 of 2 references found; label 1: 2/3 and 2/2; label 2: 2/2, 2/3
    np.testing.assert_allclose(s.precision, [50, 200 / 3, 100, 0])
    np.testing.assert_allclose(s.recall, [50, 100, 200 / 3, 0])
    np.testing.assert_allclose(s.f1, [50, 80, 80, 0])
    assert s.support.tolist() == [2, 2, 3, 0] and s.predicted.tolist() == [2, 3, 2, 0]
    # the label that occurs nowhere is left out of the mean: (50 + 80 + 80) / 3
    assert s.macro_f1 == pytest.approx(70)


def test_a_label_predicted_but_never_referenced_counts_in_macro_f1_with_f1_zero():
    s = class_scores(confusion_matrix(np.array([0, 0]), np.array([0, 1]), 2))
    assert s.f1[0] == pytest.approx(2 * 100 * 50 / 150) and s.f1[1] == 0
    assert s.macro_f1 == pytest.approx((200 / 3 + 0) / 2)
    assert s.accuracy == 50


def test_all_right_and_the_majority_class():
    perfect = class_scores(confusion_matrix(GOLD, GOLD, 3))
    assert perfect.accuracy == 100 and perfect.macro_f1 == 100
    # always the majority label 2: precision 3/7, recall 1 -> F1 60; labels 0 and 1 F1 0
    majority = class_scores(confusion_matrix(GOLD, np.full(7, 2), 3))
    assert majority.accuracy == pytest.approx(100 * 3 / 7)
    assert majority.macro_f1 == pytest.approx(60 / 3)


def test_tables_have_a_line_per_label():
    labels = ["food", "music", "sport", "weather"]
    confusion = confusion_matrix(GOLD, PREDICTED, 4)
    table = label_table(labels, class_scores(confusion))
    assert table[0].split() == ["label", "precision", "recall", "F1", "support"]
    assert table[2].split() == ["music", "66.67", "100.00", "80.00", "2"]
    matrix = confusion_table(labels, confusion)
    assert matrix[3].split() == ["2.", "music", "0", "2", "0", "0"]
    assert len(matrix) == 2 + len(labels)
