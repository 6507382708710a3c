"""Baseline code submission: a scaled logistic regression.

The ingestion program imports this file, creates `Model()`, calls `fit(X, y)` on the
training data and `predict(X)` on the test data. `predict` must return one row per test
row with the probability of each class (columns in class order, rows summing to 1).
Zip this file (not its folder) to submit it.
"""

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


class Model:
    def __init__(self):
        self.pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))

    def fit(self, X: np.ndarray, y: np.ndarray) -> "Model":
        self.pipeline.fit(X, y)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.pipeline.predict_proba(X)
