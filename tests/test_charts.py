"""Charts and prediction tables: results first, every category named."""
import pandas as pd
import pytest

from backend import charts
from backend.prediction import Prediction, ScoredRun, comparison_table, prediction_row, results_first, still_true

BODY = b"prediction,probability,age,occupation\n>50K,0.9,45,\n<=50K,0.1,,Sales\n>50K,0.7,30,Sales\n"


def test_lambda_output_reads_with_label_and_probability_first():
    frame = charts.read_predictions(BODY)
    assert list(frame.columns) == ["label", "probability", "age", "occupation"]
    assert list(results_first(pd.DataFrame({"age": [1], "probability": [0.5], "label": ["<=50K"]})).columns) == [
        "label", "probability", "age"]


def test_every_bar_is_named_and_empty_is_missing():
    frame = charts.read_predictions(BODY)
    for feature in ("occupation", "age"):
        names = list(charts.positive_share_by(frame, feature).data[0].y)
        assert all(isinstance(n, str) and n.strip() for n in names)
        assert charts.MISSING in names
    assert list(charts.category_labels(pd.Series(["Sales", "", " ", None])))[1:] == [charts.MISSING] * 3


def test_many_valued_numbers_become_named_ranges_in_order():
    frame = pd.DataFrame({"age": [*range(17, 91), None], "label": [">50K"] * 75})
    names = list(charts.positive_share_by(frame, "age").data[0].y)
    assert names[0] == charts.MISSING and names[-1] == "17–24" and names[1] == "89–90"
    assert len(names) == 11


def test_prediction_rows_lead_with_the_answer():
    row = prediction_row(Prediction(">50K", 0.91234567), {"age": 40, "label": "ignored"},
                         {"local": Prediction(">50K", 0.9)}, match=True)
    assert list(row)[:2] == ["label", "probability"] and row["label"] == ">50K"
    assert list(row) == ["label", "probability", "local label", "local probability", "match", "age"]
    table = comparison_table([{"age": 1}, {"age": 2}], [("A", [Prediction(">50K", 0.6)] * 2),
                                                       ("B", [Prediction("<=50K", 0.4)] * 2)])
    assert list(table.columns) == ["label", "probability", "B label", "B probability", "age"]


class Result:
    def __init__(self, target):
        self.target = target


def test_results_of_gone_or_replaced_targets_are_dropped():
    run = ScoredRun(({"age": 1},), (Result("local"), Result("lambda"), Result("ec2")),
                    {"local": "model a", "lambda": "fn", "ec2": "http://10.0.0.1:8000"})
    kept, dropped = still_true(run, {"local": "model a", "lambda": "fn", "ec2": "http://10.0.0.1:8000"})
    assert kept is run and dropped == []
    kept, dropped = still_true(run, {"local": "model a", "ec2": "http://10.0.0.2:8000"})  # lambda gone, ec2 new
    assert [r.target for r in kept.results] == ["local"] and dropped == ["lambda", "ec2"]
    assert still_true(run, {}) == (None, ["local", "lambda", "ec2"])


@pytest.mark.parametrize(("language", "separators"), [("it", ",."), ("en", ".,")])
def test_chart_numbers_follow_the_language(language, separators):
    """Axis ticks and hovers read 0,2 on an Italian page, 0.2 on an English one (Plotly: decimal, then group mark)."""
    from backend import i18n

    frame = pd.DataFrame({"label": ["<=50K", ">50K"], "probability": [0.2, 0.7], "age": [30, 50]})
    i18n.set_language(language)
    try:
        figures = [charts.probability_histogram(frame), charts.positive_share_by(frame, "age"),
                   charts.confusion_matrix_figure(frame["label"], frame["label"]),
                   charts.roc_figure(frame["label"], frame["probability"])]
    finally:
        i18n.set_language(None)
    assert [fig.layout.separators for fig in figures] == [separators] * 4
