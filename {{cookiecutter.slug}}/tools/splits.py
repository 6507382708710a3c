"""Which split each row of a dataset goes to: train, Development test, Final test, or none.

Rows that must share a split form a *set*: the rows of one GROUP value, and rows with exactly
the same features (a test row whose features are a training row's could be looked up in the
training data, whatever its own target is); sets that share a row are one set. Without sets
the rows are dealt out at random, stratified by class; with sets, whole sets are dealt out the
same way, each under its most common class. The same rows and seed always give the same splits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from declaration import FILE as DECLARATION_FILE
from declaration import SPLITS, Declaration
from tables import TableError, as_text


@dataclass
class RowSets:
    """Rows that must share a split: `codes[row]` is the row's set."""

    codes: np.ndarray
    twins: int  # rows whose features another row has too
    twin_sets: int  # sets of such rows
    conflicting: int  # of those sets, how many hold different targets
    exact: int  # rows that repeat another row exactly, target included
    merged_groups: int  # GROUP values joined to another by identical features

    def reasons(self, group: str | None, groups: int) -> list[str]:
        """What the report says about the rows kept together."""
        said = []
        if group:
            said.append(f"the {groups:,} values of GROUP {group!r}: each group's rows are in one split")
        if self.twins:
            differ = f"; {self.conflicting:,} of these sets have different targets" if self.conflicting else ""
            exact = f"; {self.exact:,} rows repeat another row exactly, target included" if self.exact else ""
            said.append(f"{self.twins:,} rows share exactly their features with another row ({self.twin_sets:,} sets): each "
                        f"set is in one split, so no test row can be looked up in the training data{differ}{exact}")
        if self.merged_groups:
            said.append(f"{self.merged_groups:,} groups share identical feature rows with another group and are kept with it")
        return said


def row_sets(features: pd.DataFrame, target: pd.Series, groups: pd.Series | None) -> RowSets | None:
    """The sets of rows that must share a split; None when every row may go anywhere."""
    hashes = pd.util.hash_pandas_object(features, index=False).to_numpy()
    feature_codes = pd.factorize(hashes, sort=True)[0]
    counts = np.bincount(feature_codes)
    shared = counts[feature_codes] > 1
    exact_codes = pd.factorize(pd.util.hash_pandas_object(pd.concat([features, target], axis=1), index=False).to_numpy(),
                               sort=True)[0]
    exact = int(len(exact_codes) - len(np.unique(exact_codes)))
    targets_per_set = pd.Series(exact_codes[shared]).groupby(feature_codes[shared]).nunique()
    conflicting = int((targets_per_set > 1).sum())
    twin_sets = int(np.count_nonzero(counts > 1))
    if groups is None:
        if not shared.any():
            return None
        return RowSets(pd.factorize(feature_codes, sort=True)[0], int(shared.sum()), twin_sets, conflicting, exact, 0)
    group_codes = pd.factorize(as_text(groups), sort=True)[0]
    n_groups, n_features = group_codes.max() + 1, feature_codes.max() + 1
    edges = coo_matrix((np.ones(len(group_codes)), (group_codes, n_groups + feature_codes)),
                       shape=(n_groups + n_features, n_groups + n_features))
    component = connected_components(edges, directed=False)[1][:n_groups]
    codes = pd.factorize(component[group_codes], sort=True)[0]
    merged = int(n_groups - len(np.unique(component)))
    return RowSets(codes, int(shared.sum()), twin_sets, conflicting, exact, merged)


def split_sizes(declaration: Declaration, rows: int) -> dict[str, int]:
    if declaration.split_in_rows:
        sizes = {name: int(declaration.split[name]) for name in SPLITS}
        if sum(sizes.values()) > rows:
            raise TableError(f"the split of {DECLARATION_FILE} asks for {sum(sizes.values())} rows but the table has {rows} "
                             "labelled rows; lower the numbers or give fractions (like train: 0.6)")
        return sizes
    sizes = {name: int(round(declaration.split[name] * rows)) for name in SPLITS}
    if abs(sum(declaration.split.values()) - 1) < 1e-9:
        sizes["train"] = rows - sizes["dev_test"] - sizes["final_test"]
    return sizes


def spread(counts: list[int]) -> np.ndarray:
    """Labels 0..len(counts)-1, label s exactly counts[s] times, each spread evenly along the sequence."""
    positions = np.concatenate([(np.arange(c) + 0.5) / c for c in counts if c])
    labels = np.repeat(np.arange(len(counts)), counts)
    return labels[np.argsort(positions, kind="stable")]


def deal_sets(codes: np.ndarray, label_codes: np.ndarray | None, counts: list[int], rng: np.random.RandomState) -> np.ndarray:
    """Each set's split: sets in a random order, within each stratum (the set's most common class) cut where the
    declared shares fall, so that every stratum keeps the split's proportions."""
    sets = int(codes.max()) + 1
    size = np.bincount(codes, minlength=sets)
    if label_codes is None:
        stratum = np.zeros(sets, dtype=np.int64)
    else:
        table = np.zeros((sets, int(label_codes.max()) + 1), dtype=np.int64)
        np.add.at(table, (codes, label_codes), 1)
        stratum = table.argmax(axis=1)
    bounds = np.cumsum(counts)[:-1] / sum(counts)
    order = rng.permutation(sets)
    set_split = np.empty(sets, dtype=np.int8)
    for value in np.unique(stratum):
        members = order[stratum[order] == value]
        sizes = size[members]
        middle = (np.cumsum(sizes) - sizes / 2) / sizes.sum()
        set_split[members] = np.searchsorted(bounds, middle, side="right")
    return set_split[codes]


def assign_splits(declaration: Declaration, labels: pd.Series, sets: RowSets | None, seed: int, where: str,
                  too_large: str) -> np.ndarray:
    """The split of every row: 0 train, 1 Development test, 2 Final test, 3 left out.

    `too_large` says what to do when whole sets cannot give the declared sizes."""
    rows = len(labels)
    sizes = split_sizes(declaration, rows)
    counts = [sizes["train"], sizes["dev_test"], sizes["final_test"], rows - sum(sizes.values())]
    rng = np.random.RandomState(seed)
    stratified = declaration.classification and declaration.stratify
    label_codes = pd.factorize(labels, sort=True)[0] if stratified else None
    if sets is not None:
        assignment = deal_sets(sets.codes, label_codes, counts, rng)
        got = np.bincount(assignment, minlength=4)
        for index, name in enumerate(SPLITS):
            if counts[index] and not 0.5 * counts[index] <= got[index] <= 1.5 * counts[index]:
                biggest = int(np.bincount(sets.codes).max())
                raise TableError(f"{where}: with whole sets of rows that must share a split (the largest has {biggest:,} rows) "
                                 f"the {SPLITS[name]} split gets {got[index]:,} rows instead of about {counts[index]:,}; "
                                 f"{too_large}")
    else:
        assignment = np.empty(rows, dtype=np.int8)
        order = rng.permutation(rows)
        if stratified:
            order = order[np.argsort(label_codes[order], kind="stable")]
        assignment[order] = spread(counts)
    if declaration.classification:
        movable = np.ones(rows, dtype=bool) if sets is None else np.bincount(sets.codes)[sets.codes] == 1
        give_every_class_every_split(labels, assignment, counts, movable, where)
    return assignment


def class_table(label_codes: np.ndarray, assignment: np.ndarray, classes: int) -> np.ndarray:
    table = np.zeros((classes, 4), dtype=np.int64)
    np.add.at(table, (label_codes, assignment), 1)
    return table


def give_every_class_every_split(labels: pd.Series, assignment: np.ndarray, counts: list[int], movable: np.ndarray,
                                 where: str) -> None:
    """Every class needs rows in every split. A rare class that the dealing left out of one (3 rows of a
    50/25/25 split can fall train, Development, train) gets a row from the split where it has the most, in
    exchange for a row of that split's largest class: the split sizes stay, every other class keeps a row."""
    label_codes, classes = pd.factorize(labels, sort=True)
    wanted = [index for index in range(3) if counts[index]]
    for _ in range(len(classes) * len(wanted)):
        table = class_table(label_codes, assignment, len(classes))
        lacking = [(c, j) for c in range(len(classes)) for j in wanted if table[c, j] == 0]
        if not lacking:
            return
        c, j = lacking[0]
        donor = max(wanted, key=lambda split: table[c, split])
        other = max(range(len(classes)), key=lambda k: table[k, j])
        mine = np.flatnonzero((label_codes == c) & (assignment == donor) & movable)
        theirs = np.flatnonzero((label_codes == other) & (assignment == j) & movable)
        if table[c, donor] < 2 or table[other, j] < 2 or not len(mine) or not len(theirs):
            label = classes[c]
            raise TableError(f"{where}: the class {label!r} has {int(table[c].sum())} rows"
                             + (" (some kept together with rows of identical features)" if not movable.all() else "")
                             + f": every split (train, Development test, Final test) needs at least one, and "
                             f"{SPLITS[list(SPLITS)[j]]} gets none; merge that class into another or remove its rows "
                             "in your table")
        assignment[mine[0]], assignment[theirs[0]] = j, donor
