"""A submission that fails on purpose, to show what a participant sees when the interface is wrong.

It names its prediction method `predict_proba`, as scikit-learn does, instead of `predict`.
The ingestion program stops with the message in expected_error.txt, and the scoring program
shows that message on the detailed results page instead of a score.
"""

import pandas as pd
from sklearn.dummy import DummyClassifier


class Model:
    def __init__(self):
        self.estimator = DummyClassifier()

    def fit(self, X: pd.DataFrame, y: pd.Series) -> "Model":
        self.estimator.fit(X, y)
        return self

    def predict_proba(self, X: pd.DataFrame) -> pd.DataFrame:  # wrong: the ingestion program calls predict(X)
        return pd.DataFrame(self.estimator.predict_proba(X), columns=self.estimator.classes_)
