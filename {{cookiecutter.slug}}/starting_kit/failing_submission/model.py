"""A submission that fails on purpose, to show what a participant sees when predict is wrong.

Its predict returns both columns of predict_proba instead of the probability of label 1.
The ingestion program stops with the message in expected_error.txt, and the scoring program
shows that message on the detailed results page instead of a score.
"""

import numpy as np
from sklearn.linear_model import LogisticRegression


class Model:
    def __init__(self):
        self.classifier = LogisticRegression(max_iter=1000)

    def fit(self, X: np.ndarray, y: np.ndarray) -> "Model":
        self.classifier.fit(X, y)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classifier.predict_proba(X)  # wrong: should be predict_proba(X)[:, 1]
