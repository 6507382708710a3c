"""Compare the scoring program's numpy metrics with scikit-learn's: run as a script by
tests/test_scoring_at_scale.py, with each interpreter whose scikit-learn should agree.

    python metric_crosscheck.py SCORING_PROGRAM_DIR    -> prints "agree <cases> <largest difference>"

Random inputs and edge cases (ties, a single class present, constant, certain or all-wrong
predictions, a class never predicted, 2 to 50 classes) must agree to 1e-9; where scikit-learn
refuses (ROC AUC with one class), the scoring program must refuse too.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
from sklearn import metrics as sk

sys.path.insert(0, sys.argv[1])
import metrics  # noqa: E402  (the scoring program's)

TOLERANCE = 1e-9
warnings.simplefilter("ignore")  # scikit-learn warns on the edge cases it is given on purpose


def classification_cases(rng):
    for trial in range(200):
        k = (2, 3, 10, 50)[trial % 4]
        n = int(rng.integers(2, 2000))
        y = rng.integers(0, k, n)
        proba = rng.dirichlet(np.ones(k), n)
        if trial % 5 == 0:  # ties: few distinct scores
            proba = np.round(proba, 1) + 1e-12
            proba /= proba.sum(axis=1, keepdims=True)
        if trial % 11 == 0:  # constant predictions
            proba[:] = 1 / k
        if trial % 13 == 0:  # certain, right on half the rows
            proba[: n // 2] = np.eye(k)[y[: n // 2]]
        if trial % 17 == 0:  # certain and wrong
            proba = np.eye(k)[(y + 1) % k]
        if trial % 7 == 0:  # a single class in the truth
            y[:] = int(rng.integers(0, k))
        labels = proba.argmax(axis=1) if trial % 3 else rng.integers(0, k, n)
        if trial % 9 == 0:  # one class predicted for every row
            labels[:] = 0
        yield k, y, proba, labels


def main() -> int:
    rng = np.random.default_rng(20270104)
    worst, cases = 0.0, 0

    def agree(ours, theirs, what):
        nonlocal worst, cases
        cases += 1
        worst = max(worst, abs(ours - theirs))
        if not abs(ours - theirs) <= TOLERANCE:
            raise SystemExit(f"{what}: ours {ours!r}, scikit-learn {theirs!r}")

    for k, y, proba, labels in classification_cases(rng):
        classes = list(range(k))
        agree(metrics._accuracy(y, labels, classes), sk.accuracy_score(y, labels), "accuracy")
        agree(metrics._balanced_accuracy(y, labels, classes), sk.balanced_accuracy_score(y, labels), "balanced accuracy")
        agree(metrics._macro_f1(y, labels, classes),
              sk.f1_score(y, labels, average="macro", labels=classes, zero_division=0), "macro F1")
        given = proba[:, 1] if k == 2 else proba
        agree(metrics._log_loss(y, given, classes),
              sk.log_loss(y, np.clip(given, 1e-15, 1 - 1e-15), labels=classes), "log loss")
        try:
            theirs = sk.roc_auc_score(y, given) if k == 2 else \
                sk.roc_auc_score(y, proba, multi_class="ovr", labels=classes)
        except ValueError:  # scikit-learn refuses: one class present, or a class without rows
            theirs = float("nan")
        if np.isnan(theirs):  # undefined for scikit-learn (older versions raise, newer ones give NaN)
            try:
                metrics._roc_auc(y, given, classes)
            except ValueError:
                continue
            if len(np.unique(y)) < 2:
                raise SystemExit("ROC AUC with a single class in the truth was computed; scikit-learn has none")
            continue  # a class without test rows: scikit-learn refuses; the mean over the classes is defined
        agree(metrics._roc_auc(y, given, classes), theirs, "ROC AUC")
    for trial in range(120):
        n = int(rng.integers(2, 4000))
        truth = rng.normal(size=n) * 10 ** float(rng.integers(-3, 4))
        values = truth + rng.normal(size=n)
        if trial % 6 == 0:
            values[:] = 3.0  # constant predictions
        if trial % 10 == 0:
            truth[:] = 2.0  # a constant target (R² is 1 or 0, as scikit-learn says)
        if trial % 15 == 0:
            values = truth.copy()  # perfect
        agree(metrics._rmse(truth, values, []), float(np.sqrt(sk.mean_squared_error(truth, values))), "RMSE")
        agree(metrics._mae(truth, values, []), sk.mean_absolute_error(truth, values), "MAE")
        agree(metrics._r2(truth, values, []), sk.r2_score(truth, values), "R²")
    print(f"agree {cases} {worst:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
