"""The batch Lambda's CSV reader and scorer: a CSV stream in, a predictions stream out.

``handler.py`` (the function's entry point) calls :func:`score_csv` for each uploaded file; this
module is the part that has to be fast and small. Budget: a million rows in under 200 MB and at
most twice the time of a bare ``InferenceSession.run`` on ready arrays. So no pandas and no
whole-file buffers: the CSV is read in blocks of whole lines (:class:`_ChunkReader`); a block of
plain rows is split with ``str`` operations in C (``_fast_chunk``), anything else (quoted
fields, blank lines, bad rows) goes through the ``csv`` module (``_csv_chunks``); each block
becomes numpy columns and one ``run`` call, and its predictions are formatted with numpy
(:func:`_plain_rows`) and written to the output stream.

What is read: header names matched exactly (surrounding spaces ignored), column order free,
extra columns ignored; missing values are scored (numbers: the model's ``numeric_fill``
medians; categories: ""). What cannot be scored raises :class:`BadInputError` with the 1-based
data row (header and blank lines not counted), the file line (header = 1) and the column.

Depends only on the standard library, numpy and onnxruntime (the function's layer).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import IO, Any

import numpy as np
import onnxruntime as ort

OUTPUT_COLUMNS = ("prediction", "probability")
POSITIVE_CLASS = ">50K"  # "probability" is the model's probability of this class
# Read this much of the input at a time, cut back to the last line break. 1 MiB is about
# 11,000 rows: large enough that per-block overhead vanishes, small enough that a block's
# Python strings (about 8 MB) keep the peak far under the 256 MB function.
BLOCK_BYTES = 1 << 20
# A physical line longer than this means the file is not a CSV of records.
MAX_LINE_BYTES = 1 << 20
# Rows per model call on the slower csv-module path (quoted fields, blank lines, bad rows).
CSV_CHUNK_ROWS = 8192
# Spellings of "no value" accepted in numeric columns (compared lower-cased, stripped).
MISSING_NUMBERS = frozenset({"", "nan", "na", "n/a", "null", "none", "?"})
_INT64 = np.iinfo(np.int64)


class BadInputError(ValueError):
    """The input file cannot be scored; carries where (1-based data row and file line) and why."""

    def __init__(self, message: str, *, file: str = "", row: int | None = None,
                 line: int | None = None, column: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.row = row
        self.line = line
        self.column = column
        # Where a bad byte is (field position, and the header if read with it), for the reader.
        self.field_index: int | None = None
        self.header: list[str] = []

    def report(self) -> dict[str, Any]:
        """Return the error report written to ``errors/<input name>.json``."""
        return {"file": self.file, "row": self.row, "line": self.line,
                "column": self.column, "message": self.message}

    def where(self) -> str:
        """Return where the error is, e.g. ``data row 3 (line 4), column 'age'``."""
        parts = []
        if self.row is not None:
            parts.append(f"data row {self.row}" + (f" (line {self.line})" if self.line else ""))
        elif self.line is not None:
            parts.append(f"line {self.line}")
        if self.column is not None:
            parts.append(f"column {self.column!r}")
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.where()
        return ": ".join(part for part in (self.file, where, self.message) if part)


class ConfigError(RuntimeError):
    """The function's configuration cannot work: its environment, or a model it cannot score."""


# ---------------------------------------------------------------------------------------------
# Model


def session_options(threads: int = 1) -> ort.SessionOptions:
    """Return the session options the handler scores with (also used by the benchmark)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Spinning worker threads burn the fraction of a vCPU a small function gets.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def load_session(model: bytes | str | os.PathLike, threads: int = 1) -> ort.InferenceSession:
    """Return an InferenceSession for the model (bytes or path) with the handler's options."""
    source = model if isinstance(model, bytes) else os.fspath(model)
    return ort.InferenceSession(source, session_options(threads),
                                providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class _Schema:
    """What scoring needs to know about a session: its inputs and where the outputs are."""

    names: tuple[str, ...]          # model inputs, in session order
    numeric_fill: dict[str, int]    # int64 inputs -> value for a missing number
    ranks: tuple[int, ...]          # rank of each input ([N,1] -> 2)
    label_output: str
    proba_output: str
    positive: int                   # column of the probabilities that is P(>50K)

    @classmethod
    def of(cls, session: ort.InferenceSession) -> _Schema:
        meta = session.get_modelmeta().custom_metadata_map
        try:
            medians = json.loads(meta.get("numeric_fill", "{}"))
        except ValueError:
            medians = {}
        names, ranks, fill = [], [], {}
        for inp in session.get_inputs():
            names.append(inp.name)
            ranks.append(len(inp.shape) if inp.shape else 1)
            if inp.type == "tensor(int64)":
                value = medians.get(inp.name, 0)
                fill[inp.name] = int(round(float(value))) if value is not None else 0
            elif inp.type != "tensor(string)":
                raise ConfigError(f"model input {inp.name!r} has unsupported type {inp.type}")
        outputs = {o.name: o.type for o in session.get_outputs()}
        label = "label" if "label" in outputs else next(
            (n for n, t in outputs.items() if t in ("tensor(string)", "tensor(int64)")), None)
        proba = "probabilities" if "probabilities" in outputs else next(
            (n for n, t in outputs.items() if t == "tensor(float)"), None)
        if label is None or proba is None:
            raise ConfigError(f"model outputs {sorted(outputs)} lack a label and probabilities")
        try:  # the course model lists its classes; without that, column 1 as sklearn orders them
            positive = json.loads(meta["classes"]).index(POSITIVE_CLASS)
        except (KeyError, ValueError, AttributeError, TypeError):
            positive = 1
        return cls(tuple(names), fill, tuple(ranks), label, proba, positive)


# ---------------------------------------------------------------------------------------------
# Reading: blocks of whole lines, then chunks of columns


@dataclass
class _Chunk:
    columns: list[Sequence[str]]         # one list of values per model input, schema order
    first_row: int                       # 1-based data row of the first value
    line_of: Callable[[int], int | None]  # file line of the i-th row of the chunk
    plain: bool = False                  # no value holds a comma, quote or line break


def _blocks(raw: IO[bytes], source: str, block_bytes: int) -> Iterator[tuple[int, bytes, str]]:
    """Yield (first line number, raw bytes, text) for runs of whole lines of ``raw``.

    Every block but the last ends with a line break. Raises BadInputError on bytes that are not
    UTF-8 text, NUL bytes and overlong lines, with the line they are on.
    """
    line = 1
    rest = b""
    first = True
    while True:
        piece = raw.read(block_bytes)
        data = rest + piece if rest else piece
        if first and data.startswith(b"\xef\xbb\xbf"):  # a BOM, as Excel writes
            data = data[3:]
        if piece:
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                if len(data) > MAX_LINE_BYTES:
                    raise BadInputError(
                        f"line longer than {MAX_LINE_BYTES // 1024} KiB: not a CSV of records",
                        file=source, line=line)
                rest, first = data, False
                continue
            data, rest = data[:cut], data[cut:]
        elif not data:
            return
        else:
            rest = b""
        first = False
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            message = (f"byte 0x{data[err.start]:02x} is not UTF-8 text: not a UTF-8 CSV file "
                       f"(save it as CSV UTF-8)")
            raise _byte_error(message, data, err.start, line, source) from None
        if "\x00" in text:
            raise _byte_error("binary content (NUL byte): the file is not a CSV text file",
                              data, data.index(b"\x00"), line, source)
        yield line, data, text
        line += data.count(b"\n")
        if not piece:
            return


def _byte_error(message: str, data: bytes, at: int, first_line: int,
                source: str) -> BadInputError:
    """Return the error for a bad byte at ``data[at]``, with its line and field position."""
    line_start = data.rfind(b"\n", 0, at) + 1
    err = BadInputError(message, file=source, line=first_line + data.count(b"\n", 0, at))
    err.field_index = data.count(b",", line_start, at)  # the reader names the column
    if first_line == 1 and line_start > 0:  # the header is in this block, not yet parsed
        try:
            header = data[:data.index(b"\n")].decode("utf-8")
            err.header = [h.strip() for h in next(csv.reader([header]))]
        except (UnicodeDecodeError, csv.Error, StopIteration):
            pass
    return err


class _ChunkReader:
    """Turns the input's blocks into chunks of model-input columns, checking as it goes."""

    def __init__(self, raw: IO[bytes], schema: _Schema, source: str,
                 block_bytes: int = BLOCK_BYTES) -> None:
        self.schema = schema
        self.source = source
        self.block_bytes = block_bytes
        self.blocks = self._named(_blocks(raw, source, block_bytes))
        self.rows = 0            # data rows read so far
        self.header: list[str] = []
        self.picks: list[int] = []  # header position of each model input

    def _named(self, blocks: Iterator[tuple[int, bytes, str]]) -> Iterator[tuple[int, bytes, str]]:
        """Pass the blocks through, naming the column of a bad byte past the header."""
        try:
            yield from blocks
        except BadInputError as err:
            header = self.header or err.header
            index = err.field_index
            if err.line and err.line > 1 and index is not None and index < len(header):
                err.column = header[index]
            raise

    def error(self, message: str, **where: Any) -> BadInputError:
        return BadInputError(message, file=self.source, **where)

    def __iter__(self) -> Iterator[_Chunk]:
        first = next(self.blocks, None)
        if first is None:
            raise self.error("the file is empty: expected a header line and data rows")
        start, data, text = first
        end = text.find("\n")
        self._parse_header(text if end < 0 else text[:end])
        body = (2, data[data.find(b"\n") + 1:], text[end + 1:]) if end >= 0 else None
        blocks = chain([body] if body else [], self.blocks)
        for block in blocks:
            if not block[1]:
                continue
            chunk = self._fast_chunk(*block)
            if chunk is None:  # the general path handles this block and everything after it
                yield from self._csv_chunks(chain([block], blocks))
                break
            yield chunk
        if self.rows == 0:
            raise self.error("the file has a header but no data rows")

    def _parse_header(self, line: str) -> None:
        if not line.strip():
            raise self.error("the first line is empty: expected the header with the model's "
                             "column names", line=1)
        try:
            self.header = [h.strip() for h in next(csv.reader([line]))]
        except csv.Error as err:
            raise self.error(f"header is not valid CSV ({err})", line=1) from None
        names = self.schema.names
        missing = [n for n in names if n not in self.header]
        if len(missing) == len(names):
            snippet = line if len(line) <= 60 else line[:57] + "..."
            raise self.error(f"not a CSV with the model's columns: the header {snippet!r} has "
                             f"none of {', '.join(names)}", line=1)
        if missing:
            raise self.error(f"missing column(s) {', '.join(missing)} in the header",
                             line=1, column=", ".join(missing))
        doubled = [n for n in names if self.header.count(n) > 1]
        if doubled:
            raise self.error(f"column {doubled[0]!r} appears more than once in the header",
                             line=1, column=doubled[0])
        self.picks = [self.header.index(n) for n in names]

    def _fast_chunk(self, start: int, data: bytes, text: str) -> _Chunk | None:
        """Split a block with plain str operations, or return None if it needs the csv module.

        The common file (no quotes, every line with the header's number of fields) is split in
        C: one ``split`` for the block and a slice per column, with no per-row Python work.
        """
        if '"' in text:
            return None
        if not text.endswith("\n"):
            text += "\n"
            data += b"\n"
        width = len(self.header)
        # Commas per line, from the raw bytes (UTF-8 never puts 0x0a or 0x2c inside a character):
        # a blank line or a row with the wrong number of fields sends the block to the csv path,
        # which reports the exact row.
        raw = np.frombuffer(data, np.uint8)
        breaks = np.flatnonzero(raw == 10)
        commas = np.diff(np.searchsorted(np.flatnonzero(raw == 44), breaks), prepend=0)
        if not (commas == width - 1).all():
            return None
        # One pass turns line ends into commas (CRLF as written by Python's csv or Excel); a
        # stray CR left over is something only the csv module can judge.
        if "\r" in text:
            flat = text.replace("\r\n", ",")
            if "\r" in flat or "\n" in flat:
                return None
        else:
            flat = text.replace("\n", ",")
        fields = flat.split(",")
        n = len(breaks)
        stop = n * width
        columns = [fields[i:stop:width] for i in self.picks]
        if " ," in flat or ", " in flat or flat[0] == " ":
            columns = [list(map(str.strip, col)) for col in columns]
        first_row = self.rows + 1
        self.rows += n
        return _Chunk(columns, first_row, lambda i: start + i, plain=True)

    def _csv_chunks(self, blocks: Iterator[tuple[int, bytes, str]]) -> Iterator[_Chunk]:
        """The general path: the csv module, row by row (quoted fields may span lines)."""
        first = next(blocks)
        offset = first[0] - 1  # line numbers continue from the block the path started at
        lines = (ln for _, _, text in chain([first], blocks)
                 for ln in io.StringIO(text, newline=""))
        reader = csv.reader(lines, skipinitialspace=True)
        width = len(self.header)
        picks = self.picks
        rows: list[list[str]] = []
        row_lines: list[int] = []
        while True:
            # A row is reported at the line where it starts: a quote left open runs on to the end
            # of the file, and the line where it ends would point the student far from the typo.
            start = offset + reader.line_num + 1
            try:
                record = next(reader, None)
            except csv.Error as err:
                raise self.error(f"not valid CSV: {err}{_open_quote(start, offset + reader.line_num)}",
                                 row=self.rows + 1, line=start) from None
            if record is None:
                break
            if not record:  # blank line
                continue
            self.rows += 1
            if len(record) != width:
                hint = _open_quote(start, offset + reader.line_num)
                raise self.error(f"the row has {len(record)} fields, the header has {width}{hint}",
                                 row=self.rows, line=start)
            rows.append([record[i].strip() for i in picks])
            row_lines.append(start)
            if len(rows) == CSV_CHUNK_ROWS:
                yield self._rows_chunk(rows, row_lines)
                rows, row_lines = [], []
        if rows:
            yield self._rows_chunk(rows, row_lines)

    def _rows_chunk(self, rows: list[list[str]], row_lines: list[int]) -> _Chunk:
        columns = list(zip(*rows))
        return _Chunk(columns, self.rows - len(rows) + 1, row_lines.__getitem__)


def _open_quote(start: int, end: int) -> str:
    """Return the hint for a bad row that spans lines: most often a quote that is never closed."""
    if end <= start:
        return ""
    return f" (a quoted field opened on line {start} runs on to line {end}: is a closing quote missing?)"


# ---------------------------------------------------------------------------------------------
# Scoring


def _numbers(values: Sequence[str], fill: int, name: str, chunk: _Chunk,
             reader: _ChunkReader) -> np.ndarray:
    """Return the int64 column for ``values``; missing -> ``fill``; raise on a non-number."""
    joined = ",".join(values)
    # numpy's C parser takes the common all-integer column in one call; a comma inside a value
    # (quoted field) or anything it cannot read falls through to the checked loop below.
    if joined.count(",") == len(values) - 1:
        try:
            arr = np.fromstring(joined, dtype=np.int64, sep=",")
        except ValueError:
            arr = None
        # fromstring saturates on overflow; a saturated value goes through the checked loop.
        if (arr is not None and len(arr) == len(values)
                and not ((arr == _INT64.max) | (arr == _INT64.min)).any()):
            return arr
    out = np.empty(len(values), np.int64)
    for i, value in enumerate(values):
        text = value.strip()
        if text.lower() in MISSING_NUMBERS:
            out[i] = fill
            continue
        try:
            out[i] = int(text)
            continue
        except ValueError:
            pass
        except OverflowError:
            raise reader.error(f"value {value!r} is out of range for a 64-bit integer",
                               row=chunk.first_row + i, line=chunk.line_of(i),
                               column=name) from None
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or abs(number) >= 2.0 ** 63:
            raise reader.error(f"value {value!r} is not a number", row=chunk.first_row + i,
                               line=chunk.line_of(i), column=name)
        out[i] = round(number)  # "39.0" as pandas writes an int column that had a gap
    return out


def _feed(chunk: _Chunk, schema: _Schema, reader: _ChunkReader) -> dict[str, np.ndarray]:
    feed = {}
    for name, rank, values in zip(schema.names, schema.ranks, chunk.columns):
        if name in schema.numeric_fill:
            arr = _numbers(values, schema.numeric_fill[name], name, chunk, reader)
        else:
            # Missing categoricals stay "", which the encoder treats as an unknown category.
            arr = np.fromiter(values, dtype=object, count=len(values))
        feed[name] = arr.reshape(-1, 1) if rank == 2 else arr
    return feed


_POW10 = 10 ** np.arange(5, -1, -1, dtype=np.int64)
_TAIL = np.arange(10)


def _plain_rows(labels: np.ndarray, positive: np.ndarray) -> str | None:
    """Return ``label,probability`` lines for a chunk, or None if the shortcut does not apply.

    Formatting a million floats one by one costs as much as parsing the input, so the lines are
    assembled as bytes with numpy: each row is a label (from the model's few labels) then
    ``,D.DDDDDD\n``. Same text as ``"{},{:.6f}\n".format``; labels needing CSV quoting,
    probabilities outside [0, 1] and many distinct labels take the general path.
    """
    p = positive.astype(np.float64)
    if not ((p >= 0.0) & (p <= 1.0)).all():  # false for NaN too
        return None
    names = labels.tolist()
    table = list(set(names))
    if len(table) > 255 or any(c in str(t) for t in table for c in ',"\r\n'):
        return None
    encoded = [str(t).encode() for t in table]
    codes = np.fromiter(map({t: k for k, t in enumerate(table)}.__getitem__, names),
                        np.uint8, len(names))
    label_len = np.array([len(e) for e in encoded], np.int64)[codes]
    ends = np.cumsum(label_len + 10)
    starts = ends - (label_len + 10)
    buf = np.empty(int(ends[-1]) if len(ends) else 0, np.uint8)
    for k, label in enumerate(encoded):
        at = starts[codes == k]
        buf[at[:, None] + np.arange(len(label))] = np.frombuffer(label, np.uint8)
    micros = np.rint(p * 1e6).astype(np.int64)
    tail = np.empty((len(p), 10), np.uint8)
    tail[:, 0] = 44  # ,
    tail[:, 1] = 48 + micros // 1_000_000
    tail[:, 2] = 46  # .
    tail[:, 3:9] = 48 + (micros % 1_000_000)[:, None] // _POW10 % 10
    tail[:, 9] = 10  # \n
    buf[(starts + label_len)[:, None] + _TAIL] = tail
    return buf.tobytes().decode("utf-8")


def score_csv(in_stream: IO[bytes], out_stream: IO[str], session: ort.InferenceSession, *,
              include_input: bool = False, source: str = "<input>",
              block_bytes: int = BLOCK_BYTES) -> int:
    """Score the CSV in ``in_stream`` (binary) into ``out_stream`` (text); return the row count.

    Output columns: ``prediction``, ``probability`` (P(>50K), 6 decimals), preceded by the
    model's input columns as read (stripped of surrounding spaces) when ``include_input``.
    Raises BadInputError (``source`` names the file) on input that cannot be scored; what was
    written to ``out_stream`` before then is incomplete and must be discarded.
    """
    if isinstance(in_stream, io.TextIOBase):
        in_stream = in_stream.buffer  # type: ignore[attr-defined]
    schema = _Schema.of(session)
    reader = _ChunkReader(in_stream, schema, source, block_bytes)
    writer = csv.writer(out_stream, lineterminator="\n")
    if include_input:
        writer.writerow([*schema.names, *OUTPUT_COLUMNS])
    else:
        out_stream.write(",".join(OUTPUT_COLUMNS) + "\n")
    outputs = [schema.label_output, schema.proba_output]
    for chunk in reader:
        labels, proba = session.run(outputs, _feed(chunk, schema, reader))
        labels, positive = labels.reshape(-1), proba[:, schema.positive]
        lines = _plain_rows(labels, positive) if chunk.plain or not include_input else None
        if lines is not None and not include_input:
            out_stream.write(lines)
            continue
        if lines is not None:  # plain values need no quoting: join them, skip csv.writer
            tails = lines.split("\n")
            tails.pop()
            out_stream.write("\n".join(map(",".join, zip(*chunk.columns, tails))) + "\n")
            continue
        probability = map("{:.6f}".format, positive.tolist())
        if include_input:
            writer.writerows(zip(*chunk.columns, labels.tolist(), probability))
        else:
            writer.writerows(zip(labels.tolist(), probability))
    return reader.rows
