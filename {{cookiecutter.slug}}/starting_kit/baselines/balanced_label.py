"""Baseline code submission: a logistic regression on the scaled numbers and one-hot categories,
each class weighted alike (class_weight="balanced"), as the competition's metric weighs them: a
rare class is still predicted.

The ingestion program imports this file, creates `Model()`, calls `fit(X, y)` on the training
data and `predict(X)` on the test data. `X` is a pandas DataFrame with the dataset's feature
columns: numbers as float, categorical columns with the `category` dtype, NaN where a value is
missing. `y` is a pandas Series of class labels.

`predict` returns one class label per test row (the labels of `y`). Zip this file (not its
folder) to submit it.
"""

import numpy as np
import pandas as pd
from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


class Model:
    def __init__(self):
        features = make_column_transformer(
            (make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), make_column_selector(dtype_include="number")),
            (OneHotEncoder(handle_unknown="ignore"), make_column_selector(dtype_include="category")),  # NaN gets its own column
        )
        self.pipeline = make_pipeline(features, LogisticRegression(max_iter=1000, class_weight="balanced"))

    def fit(self, X: pd.DataFrame, y: pd.Series) -> "Model":
        self.pipeline.fit(X, y)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.pipeline.predict(X)
