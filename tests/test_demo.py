import numpy as np

from ibdetect.demo import digits_split, format_results, main, run_digits_demo


def test_digits_split_keeps_unseen_digits_out_of_training():
    X_train, y_train, X_test, y_test = digits_split(random_state=0)
    assert set(np.unique(y_train)) == set(range(6))
    assert set(np.unique(y_test)) == set(range(6)) | {-1}
    assert len(X_train) + len(X_test) == 1797
    # No training row appears in the test set.
    train_rows = {row.tobytes() for row in X_train}
    assert not any(row.tobytes() in train_rows for row in X_test)


def test_demo_beats_isolation_forest():
    results = {row["method"]: row for row in run_digits_demo(random_state=0)}
    ours, forest = results["IBDeepDescription"], results["IsolationForest"]
    assert ours["roc_auc"] > forest["roc_auc"] + 0.1
    assert ours["roc_auc"] > 0.95
    assert ours["flagged_unseen"] > ours["flagged_normal"]


def test_demo_prints_the_table(capsys):
    main(["--max-epochs", "2"])
    out = capsys.readouterr().out
    assert "IBDeepDescription" in out and "IsolationForest" in out and "ROC AUC" in out


def test_format_results_aligns_rows():
    row = {"method": "x", "roc_auc": 0.5, "average_precision": 0.25,
           "flagged_normal": 0.1, "flagged_unseen": 0.9, "fit_seconds": 1.0}
    lines = format_results([row, row]).splitlines()
    assert len({len(line) for line in lines}) == 1
    assert "0.500" in lines[2] and "90.0%" in lines[2]
