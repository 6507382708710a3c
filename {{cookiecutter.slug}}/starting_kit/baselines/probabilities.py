"""Baseline code submission: a logistic regression on the scaled numbers and one-hot categories.

The ingestion program imports this file, creates `Model()`, calls `fit(X, y)` on the training
data and `predict(X)` on the test data. `X` is a pandas DataFrame with the dataset's feature
columns: numbers as float, categorical columns with the `category` dtype, NaN where a value is
missing. `y` is a pandas Series of class labels.

`predict` returns the probability of each class: a DataFrame with one column per class, named
by its label, as below (for two classes, the ingestion program takes the positive class's
column). Zip this file (not its folder) to submit it.
"""

import numpy as np
import pandas as pd
from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


# No probability is ever exactly 0 or 1: a confident mistake would cost the full log loss.
SMALLEST = 1e-6


class Model:
    def __init__(self):
        features = make_column_transformer(
            (make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), make_column_selector(dtype_include="number")),
            (OneHotEncoder(handle_unknown="ignore"), make_column_selector(dtype_include="category")),  # NaN gets its own column
        )
        self.pipeline = make_pipeline(features, LogisticRegression(max_iter=1000))

    def fit(self, X: pd.DataFrame, y: pd.Series) -> "Model":
        self.pipeline.fit(X, y)
        return self

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        proba = np.clip(self.pipeline.predict_proba(X), SMALLEST, None)
        return pd.DataFrame(proba / proba.sum(axis=1, keepdims=True), columns=self.pipeline.classes_)
