"""batch_reader, the function's CSV reader and scorer, on local streams: parsing paths, quirks of
real CSV files, error positions, and agreement with bare onnxruntime whatever the read block
size."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from lambda_model_factory import FEATURES, NUMERIC, make_rows

HEADER = ",".join(FEATURES)
NUL = chr(0)
ROW = ("39,State-gov,Bachelors,Never-married,Adm-clerical,Not-in-family,White,Male,2174,0,40,"
       "United-States")


def score(batch_reader, session, body: bytes, **kwargs) -> tuple[int, list[list[str]]]:
    out = io.StringIO()
    rows = batch_reader.score_csv(io.BytesIO(body), out, session, **kwargs)
    return rows, list(csv.reader(io.StringIO(out.getvalue())))


def as_csv(cols: dict[str, np.ndarray], columns=FEATURES, lineterminator="\n") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=lineterminator)
    writer.writerow(columns)
    writer.writerows(zip(*[cols[c].tolist() for c in columns]))
    return out.getvalue().encode()


def assert_same(got: list[list[str]], want: list[list[str]]) -> None:
    """Same labels; probabilities within the 6 printed decimals (onnxruntime's float sums can
    differ in the last bit with the batch size, which may move a rounded decimal by one)."""
    assert [g[0] for g in got] == [w[0] for w in want]
    np.testing.assert_allclose([float(g[1]) for g in got], [float(w[1]) for w in want],
                               atol=1.01e-6, rtol=0)


def bare(session, cols) -> list[list[str]]:
    feed = {n: (cols[n].astype(np.int64) if n in NUMERIC else cols[n].astype(object))
            .reshape(-1, 1) for n in FEATURES}
    labels, proba = session.run(["label", "probabilities"], feed)
    return [[lbl, f"{p:.6f}"] for lbl, p in zip(labels.tolist(), proba[:, 1].tolist())]


@pytest.mark.parametrize("block_bytes", [64, 1000, 1 << 20])
@pytest.mark.parametrize("lineterminator", ["\n", "\r\n"])
def test_same_predictions_as_bare_onnxruntime_whatever_the_block(batch_reader, session, block_bytes,
                                                                lineterminator):
    cols = make_rows(700, seed=11)
    rows, out = score(batch_reader, session, as_csv(cols, lineterminator=lineterminator),
                      block_bytes=block_bytes)
    assert rows == 700
    assert out[0] == ["prediction", "probability"]
    assert_same(out[1:], bare(session, cols))


def test_quoted_fields_take_the_csv_path_with_the_same_result(batch_reader, session):
    cols = make_rows(50, seed=12)
    cols["comment"] = np.array([f'said "hi",\nthen {i}' for i in range(50)], dtype=object)
    body = as_csv(cols, columns=["comment", *FEATURES])
    assert b'"' in body
    rows, out = score(batch_reader, session, body, block_bytes=256)
    assert rows == 50
    assert_same(out[1:], bare(session, cols))


def test_column_order_is_free_and_extra_columns_are_ignored(batch_reader, session):
    cols = make_rows(40, seed=13)
    cols["id"] = np.arange(40)
    rows, out = score(batch_reader, session, as_csv(cols, columns=["id", *reversed(FEATURES)]))
    assert_same(out[1:], bare(session, cols))


@pytest.mark.parametrize("lineterminator", ["\n", "\r\n"])
def test_include_input_is_the_same_from_both_paths(batch_reader, session, lineterminator):
    cols = make_rows(300, seed=14)
    cols["age"] = cols["age"].astype(object)
    cols["age"][::7] = ""
    body = as_csv(cols, lineterminator=lineterminator)
    _, fast = score(batch_reader, session, body, include_input=True)
    quoted = body.replace(b"Private", b'"Private"')  # a quote sends every block to csv.writer
    _, general = score(batch_reader, session, quoted, include_input=True, block_bytes=1000)
    assert fast == general
    assert fast[0] == [*FEATURES, "prediction", "probability"]
    assert [row[:12] for row in fast[1:]] == [[str(cols[f][i]) for f in FEATURES]
                                              for i in range(300)]


def test_include_input_keeps_values_as_read(batch_reader, session):
    body = f"{HEADER},note\n{ROW},x\n{ROW.replace('39,', ',', 1)},y\n".encode()
    rows, out = score(batch_reader, session, body, include_input=True)
    assert out[0] == [*FEATURES, "prediction", "probability"]
    assert out[1][:12] == ROW.split(",")
    assert out[2][0] == ""  # the missing age stays missing in the output


@pytest.mark.parametrize("body", [
    f"\ufeff{HEADER}\n{ROW}\n".encode(),                           # BOM, as Excel writes
    f"{HEADER}\n{ROW}\n\n\n".encode(),                              # trailing blank lines
    f"{HEADER}\n{ROW}".encode(),                                    # no final line break
    f"{HEADER.replace(',', ', ')}\n{ROW.replace(',', ', ')}\n".encode(),  # ", " separators
    f" {HEADER.replace(',', ' ,')} \r\n {ROW.replace(',', ' ,')} \r\n".encode(),
    ('"' + HEADER.replace(",", '","') + '"\n' + '"' + ROW.replace(",", '","') + '"\n').encode(),
])
def test_common_csv_variants_read_the_same(batch_reader, session, body):
    _, expected = score(batch_reader, session, f"{HEADER}\n{ROW}\n".encode())
    rows, out = score(batch_reader, session, body)
    assert rows == 1
    assert out == expected


@pytest.mark.parametrize(("value", "as_int"), [
    ("39.0", 39), (" 40 ", 40), ("4e1", 40), ("+41", 41), ("", None), ("nan", None),
    ("NA", None), ("?", None), ("null", None),
])
def test_numeric_spellings(batch_reader, session, value, as_int):
    fill = 54  # the test model's median age (numeric_fill)
    row = ROW.split(",")
    row[0] = value
    _, got = score(batch_reader, session, f"{HEADER}\n{','.join(row)}\n".encode(), block_bytes=64)
    row[0] = str(as_int if as_int is not None else fill)
    _, want = score(batch_reader, session, f"{HEADER}\n{','.join(row)}\n".encode())
    assert got == want


@pytest.mark.parametrize(("body", "row", "line", "column", "words"), [
    (f"{HEADER}\n{ROW}\n\n{ROW.replace('39', 'x')}\n", 2, 4, "age", "not a number"),
    (f'{HEADER},c\n{ROW},"a\nb"\n{ROW.replace(",40,", ",forty,")},d\n', 2, 4,
     "hours_per_week", "'forty' is not a number"),
    (f"{HEADER}\n{ROW.replace('2174', '99999999999999999999')}\n", 1, 2, "capital_gain",
     "out of range"),
    (f"{HEADER}\n{ROW.replace('2174', 'inf')}\n", 1, 2, "capital_gain", "not a number"),
    (f"{HEADER},age\n{ROW},1\n", None, 1, "age", "more than once"),
    (f"{HEADER}\n{ROW}\n{ROW},x\n", 2, 3, None, "13 fields"),
    (f"{HEADER}\n{ROW}\n{ROW.replace('White', 'Wh' + NUL + 'ite')}\n", None, 3, "race", "NUL"),
    (f"\n{HEADER}\n{ROW}\n", None, 1, None, "first line is empty"),
    (f'{HEADER}\n{ROW.replace("White", chr(34) + "White")}\n', 1, 2, None, "fields"),
])
def test_error_positions(batch_reader, session, body, row, line, column, words):
    for block_bytes in (32, 1 << 20):  # same answer from the fast and the csv-module paths
        with pytest.raises(batch_reader.BadInputError) as info:
            score(batch_reader, session, body.encode(), block_bytes=block_bytes, source="f.csv")
        err = info.value
        assert (err.row, err.line, err.column) == (row, line, column), block_bytes
        assert words in err.message
        assert str(err).startswith("f.csv: ")


def test_a_line_too_long_is_not_read_into_memory(batch_reader, session):
    body = HEADER.encode() + b"\n" + b"9" * (batch_reader.MAX_LINE_BYTES + 10)
    with pytest.raises(batch_reader.BadInputError, match="longer than"):
        score(batch_reader, session, body, block_bytes=1 << 16)


def test_accepts_a_text_stream(batch_reader, session, tmp_path):
    path = tmp_path / "in.csv"
    path.write_text(f"{HEADER}\n{ROW}\n")
    out = io.StringIO()
    with path.open() as fh:
        assert batch_reader.score_csv(fh, out, session) == 1


def test_plain_rows_match_str_format(batch_reader):
    rng = np.random.default_rng(0)
    positive = np.concatenate([[0.0, 1.0, 5e-7, 0.9999996, 0.25], rng.random(5000)])
    positive = positive.astype(np.float32)
    labels = np.where(positive > 0.5, ">50K", "<=50K").astype(object)
    want = "".join(f"{lbl},{p:.6f}\n" for lbl, p in zip(labels.tolist(), positive.tolist()))
    got = batch_reader._plain_rows(labels, positive)
    # Rounding the float32 value via float64 * 1e6 can differ from str.format only on exact
    # ties of the 7th decimal; allow none here.
    assert got == want


@pytest.mark.parametrize(("labels", "positive"), [
    (["a,b", "c"], [0.1, 0.2]),            # a label that needs quoting
    (["x", "y"], [0.1, float("nan")]),     # not a probability
])
def test_plain_rows_defers_to_the_csv_writer(batch_reader, labels, positive):
    assert batch_reader._plain_rows(np.array(labels, dtype=object),
                               np.array(positive, dtype=np.float32)) is None
