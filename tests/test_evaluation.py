"""Scoring: the numbers on a hand-worked example, and a refusal, in one line, for input that would make them wrong."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zoo.errors import UsageError, ZooError
from zoo.train.evaluation import score

CLASSES = ["cat", "dog", "fox"]
PROBS = np.array([[0.7, 0.2, 0.1],   # cat -> cat
                  [0.1, 0.8, 0.1],   # dog -> dog
                  [0.5, 0.4, 0.1],   # dog -> cat
                  [0.2, 0.2, 0.6]], "float32")  # fox -> fox


def test_score_of_a_hand_worked_example():
    scored = score(PROBS, np.array([0, 1, 1, 2]), CLASSES)
    assert scored["accuracy"] == 0.75 and scored["n"] == 4
    assert scored["loss"] == pytest.approx(-(math.log(0.7) + math.log(0.8) + math.log(0.4) + math.log(0.6)) / 4,
                                           rel=1e-6)
    assert scored["per_class_accuracy"] == {"cat": 1.0, "dog": 0.5, "fox": 1.0}
    assert scored["confusion"] == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
    assert score(np.zeros((0, 3), "float32"), np.array([], np.int64), CLASSES)["accuracy"] is None


def test_unlabelled_examples_are_refused():
    # -1 would index the last class: a silently wrong accuracy, loss and confusion matrix
    with pytest.raises(UsageError) as refused:
        score(PROBS, np.array([0, 1, -1, -1]), CLASSES)
    assert str(refused.value) == ("cannot score: 2 of 4 examples have no label (negative, e.g. -1); "
                                  "score a labelled split")


def test_labels_outside_the_classes_are_refused():
    with pytest.raises(UsageError, match=r"^cannot score: label 3 is not one of the 3 classes \(0 to 2\); "):
        score(PROBS, np.array([0, 1, 3, 2]), CLASSES)


@pytest.mark.parametrize("labels", [np.array([0, 1, 1]), np.array([0, 1, 1, 2, 0])])
def test_a_prediction_per_label_or_a_refusal(labels):
    with pytest.raises(ZooError) as refused:
        score(PROBS, labels, CLASSES)
    assert str(refused.value) == (f"cannot score: 4 predictions for {len(labels)} labels; "
                                  "each example needs exactly one prediction, in order")
    assert not isinstance(refused.value, UsageError)  # ours to fix, not the user's: exit 1


def test_predictions_of_another_number_of_classes_are_refused():
    with pytest.raises(ZooError, match=r"^cannot score: predictions of shape \(4, 2\) for 3 classes$"):
        score(PROBS[:, :2], np.array([0, 1, 1, 0]), CLASSES)
    with pytest.raises(ZooError, match="labels must be class numbers"):
        score(PROBS, np.array([0.0, 1.0, 1.0, 2.0]), CLASSES)


def test_evaluate_checks_what_the_model_predicts(tmp_path):
    """The model drops nothing here, but a dataset of one image fewer than the labels is refused."""
    import keras
    import tensorflow as tf

    from zoo.train.evaluation import evaluate

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, activation="softmax")])
    images = np.eye(2, dtype="float32").repeat(3, axis=0)  # 6 examples
    labels = np.array([0, 1, 2, 0, 1, 2])
    full = evaluate(model, tf.data.Dataset.from_tensor_slices(images).batch(4), labels, CLASSES)
    assert full["n"] == 6 and sum(map(sum, full["confusion"])) == 6
    with pytest.raises(ZooError, match="cannot score: 5 predictions for 6 labels"):
        evaluate(model, tf.data.Dataset.from_tensor_slices(images[:5]).batch(4), labels, CLASSES)


def test_per_class_figures_macro_f1_and_top_k_of_the_hand_worked_example():
    scored = score(PROBS, np.array([0, 1, 1, 2]), CLASSES, top_k=2)
    # cat: 2 predicted, 1 right -> precision 0.5, recall 1; dog: 1 of 1 predicted, 1 of 2 found; fox: perfect
    assert scored["per_class"]["cat"] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1}
    assert scored["per_class"]["dog"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert scored["per_class"]["fox"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert scored["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert scored["top_k"] == 2 and scored["top_k_accuracy"] == 1.0  # the missed dog is its second guess
    assert score(PROBS, np.array([0, 1, 1, 2]), CLASSES, top_k=9)["top_k"] == 3  # at most the classes
    unseen = score(PROBS[:2], np.array([0, 1]), CLASSES)["per_class"]["fox"]
    assert unseen == {"precision": None, "recall": None, "f1": None, "support": 0}
