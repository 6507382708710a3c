"""A submission that fails on purpose, to show what a participant sees when the interface is wrong.

It names its prediction method `predict_proba`, as scikit-learn does, instead of `predict`.
The ingestion program stops with the message in expected_error.txt, and the scoring program
shows that message on the detailed results page instead of a score.
"""

import numpy as np
from sklearn.dummy import DummyClassifier


class Model:
    def __init__(self):
        self.estimator = DummyClassifier()

    def fit(self, X: np.ndarray, y: np.ndarray) -> "Model":
        self.estimator.fit(X, y)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:  # wrong: the ingestion program calls predict(X)
        return self.estimator.predict_proba(X)
