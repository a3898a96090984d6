"""Income prediction API of the lab's exercise 4: the course ONNX model behind FastAPI.

Standalone on purpose (it ships alone in a Docker image): imports nothing from the project.
Run from this folder: `uvicorn app:app --host 0.0.0.0 --port 8000`; settings come from the
environment (see `Settings`).
"""
import asyncio
import hashlib
import json
import logging
import math
from collections.abc import Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

# uvicorn's own logger: its handler prints our lines among the server's (`docker logs`).
log = logging.getLogger("uvicorn.error")

APP_DIR = Path(__file__).resolve().parent


class Settings(BaseSettings):
    """The app's configuration, from environment variables (names are the upper-case fields)."""

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore")

    model_path: Path = APP_DIR / "model.onnx"
    # Largest list /predict/batch accepts; bigger lists get a 422 naming `records`.
    batch_max: int = Field(default=1000, ge=1, le=100_000)
    # Largest request body, in bytes: a bigger one gets 413 before it is read (a record's JSON
    # is about 300 bytes). /predict/batch allows this or RECORD_BYTES per record, if more.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # One thread each: a request scores one record (or a small batch) in well under a
    # millisecond, where thread hand-offs cost more than they save; scale with workers instead.
    ort_intra_op_threads: int = Field(default=1, ge=0)
    ort_inter_op_threads: int = Field(default=1, ge=0)


# The categories of the UCI Adult data (Becker & Kohavi 1996), without its missing marker "?".
# Hard-coded rather than read from the model so that /docs is complete before any model loads;
# at start-up the app logs any difference from the `categories` the model carries.
ADULT_CATEGORIES: dict[str, tuple[str, ...]] = {
    "work_class": (
        "Federal-gov", "Local-gov", "Never-worked", "Private", "Self-emp-inc",
        "Self-emp-not-inc", "State-gov", "Without-pay",
    ),
    "education": (
        "10th", "11th", "12th", "1st-4th", "5th-6th", "7th-8th", "9th", "Assoc-acdm",
        "Assoc-voc", "Bachelors", "Doctorate", "HS-grad", "Masters", "Preschool", "Prof-school",
        "Some-college",
    ),
    "marital_status": (
        "Divorced", "Married-AF-spouse", "Married-civ-spouse", "Married-spouse-absent",
        "Never-married", "Separated", "Widowed",
    ),
    "occupation": (
        "Adm-clerical", "Armed-Forces", "Craft-repair", "Exec-managerial", "Farming-fishing",
        "Handlers-cleaners", "Machine-op-inspct", "Other-service", "Priv-house-serv",
        "Prof-specialty", "Protective-serv", "Sales", "Tech-support", "Transport-moving",
    ),
    "relationship": (
        "Husband", "Not-in-family", "Other-relative", "Own-child", "Unmarried", "Wife",
    ),
    "race": ("Amer-Indian-Eskimo", "Asian-Pac-Islander", "Black", "Other", "White"),
    "sex": ("Female", "Male"),
    "native_country": (
        "Cambodia", "Canada", "China", "Columbia", "Cuba", "Dominican-Republic", "Ecuador",
        "El-Salvador", "England", "France", "Germany", "Greece", "Guatemala", "Haiti",
        "Holand-Netherlands", "Honduras", "Hong", "Hungary", "India", "Iran", "Ireland", "Italy",
        "Jamaica", "Japan", "Laos", "Mexico", "Nicaragua", "Outlying-US(Guam-USVI-etc)", "Peru",
        "Philippines", "Poland", "Portugal", "Puerto-Rico", "Scotland", "South", "Taiwan",
        "Thailand", "Trinadad&Tobago", "United-States", "Vietnam", "Yugoslavia",
    ),
}
POSITIVE_CLASS = ">50K"
NUMERIC_FEATURES = ("age", "capital_gain", "capital_loss", "hours_per_week")
FEATURES = NUMERIC_FEATURES + tuple(ADULT_CATEGORIES)
_FEED_TYPES = tuple((f, np.int64 if f in NUMERIC_FEATURES else np.object_) for f in FEATURES)
_OUTPUTS = ["label", "probabilities"]

# LAB.md's corrected sample record (the handout's "Married"/"Professional" are not Adult values).
SAMPLE_RECORD: dict[str, Any] = {
    "age": 39, "work_class": "Local-gov", "education": "Masters",
    "marital_status": "Married-civ-spouse", "occupation": "Prof-specialty",
    "relationship": "Wife", "race": "White", "sex": "Female", "capital_gain": 0,
    "capital_loss": 0, "hours_per_week": 28, "native_country": "United-States",
}


def _json_integer(value: Any) -> Any:
    # JSON Schema's "integer" takes 28 and 28.0 (the handout sends 28.0) but not "28" or true,
    # which pydantic's lax mode would otherwise turn into numbers.
    if isinstance(value, (str, bool)):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


def _utf8_text(value: str) -> str:
    # JSON can carry lone surrogates ("\ud800") that Python accepts but UTF-8, and so the
    # model's string tensors, cannot: a 422 here instead of a 500 from onnxruntime.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError(
            "string_unicode", "Input should be valid Unicode text"
        ) from None
    return value


def _category_value(value: str | None) -> str:
    # null or "" is a missing value, as in the course CSVs: the model learned "" as its own category.
    return "" if value is None else _utf8_text(value)


WholeNumber = Annotated[int, BeforeValidator(_json_integer)]
Category = Annotated[str | None, AfterValidator(_category_value)]


def _category(feature: str, example: str) -> Any:
    known = ADULT_CATEGORIES[feature]
    return Field(
        max_length=64,
        # `examples` lists every known value (first: a typical one) for clients that build
        # choices from the OpenAPI document; not an enum, since unknown values are scored.
        examples=[example, *(k for k in known if k != example)],
        description=(
            f"Adult category. Known values: {', '.join(known)}. Empty or null means missing; any "
            "other string (such as Adult's missing marker '?') is scored as an unknown category."
        ),
    )


class IncomeRecord(BaseModel):
    """One person, as the 12 features of the Adult census data."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [SAMPLE_RECORD]})

    # Bounds: Adult's own ranges, stretched where its values are top-coded (ages above 90 are
    # recorded as 90, gains above 99999 as 99999; losses, 4356 at most there, share the field).
    age: WholeNumber = Field(
        ge=17, le=100, description="Age in years (Adult: 17-90, 90 meaning 90 or more)."
    )
    work_class: Category = _category("work_class", "Private")
    education: Category = _category("education", "Bachelors")
    marital_status: Category = _category("marital_status", "Married-civ-spouse")
    occupation: Category = _category("occupation", "Prof-specialty")
    relationship: Category = _category("relationship", "Husband")
    race: Category = _category("race", "White")
    sex: Category = _category("sex", "Female")
    capital_gain: WholeNumber = Field(
        ge=0, le=99_999, description="Capital gains in USD (Adult: 0-99999)."
    )
    capital_loss: WholeNumber = Field(
        ge=0, le=99_999, description="Capital losses in USD (Adult: 0-4356)."
    )
    hours_per_week: WholeNumber = Field(
        ge=1, le=99, description="Hours worked per week (Adult: 1-99)."
    )
    native_country: Category = _category("native_country", "United-States")


class Prediction(BaseModel):
    """The model's answer for one record."""

    label: str = Field(description='Predicted income class, "<=50K" or ">50K".', examples=[">50K"])
    probability: float = Field(ge=0.0, le=1.0, description="Probability of >50K.", examples=[0.62])
    model_version: str = Field(examples=["2025.1"])


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    model_version: str


class ErrorMessage(BaseModel):
    detail: str = Field(examples=["There was an error parsing the body"])


# Room per record in /predict/batch's body limit: several times a record's usual JSON.
RECORD_BYTES = 1024
# The longest excerpt of the input a 422 echoes (the body of a request can be up to 1 MB).
EXCERPT_CHARS = 100
# FastAPI answers 400 (not 422) when the body is not text it can decode at all; BodySizeLimit
# answers 413.
BAD_BODY = {
    400: {"model": ErrorMessage, "description": "The body is not UTF-8 JSON text."},
    413: {"model": ErrorMessage, "description": "The body is larger than this route accepts."},
}


class ModelLoadError(RuntimeError):
    """The ONNX model is missing or does not have the signature the app expects."""


class Scorer:
    """An ONNX Runtime session over the course model, scoring validated records."""

    def __init__(
        self, session: ort.InferenceSession, model_version: str, positive_column: int = 1
    ) -> None:
        self.session = session
        self.model_version = model_version
        self.positive_column = positive_column  # the column of `probabilities` that is P(>50K)

    @classmethod
    def load(cls, settings: Settings) -> "Scorer":
        """Open `settings.model_path`, check its signature, return a ready scorer."""
        path = settings.model_path
        if not path.is_file():
            raise ModelLoadError(
                f"Model file not found: {path}. Put model.onnx next to app.py or set MODEL_PATH."
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = settings.ort_intra_op_threads
        options.inter_op_num_threads = settings.ort_inter_op_threads
        try:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelLoadError(f"Model file {path} is not a loadable ONNX model: {exc}") from exc
        _check_signature(session, path)
        meta = session.get_modelmeta().custom_metadata_map
        _log_category_drift(meta.get("categories"))
        version = meta.get("model_version") or "sha256:" + _sha256(path)[:12]
        return cls(session, version, _positive_column(meta.get("classes"), path))

    def predict(self, records: Sequence[IncomeRecord]) -> list[dict[str, Any]]:
        """One {label, probability, model_version} per record, in order, from one session run."""
        # Built straight from the validated objects: no DataFrame on the request path.
        rows = [r.__dict__ for r in records]
        feeds = {f: np.array([[row[f]] for row in rows], dtype=t) for f, t in _FEED_TYPES}
        label, proba = self.session.run(_OUTPUTS, feeds)
        version = self.model_version
        return [
            {"label": lab, "probability": round(p, 6), "model_version": version}
            for lab, p in zip(label.tolist(), proba[:, self.positive_column].tolist())
        ]


class Batcher:
    """Scores the single records that reach the server together in one session run.

    A session run costs about the same for one record as for eight, so under concurrent load
    scoring each request on its own wastes most of the CPU. Each request joins a queue; the
    first one schedules a callback that runs after every request already handed to the event
    loop has queued its record, and that callback scores the whole queue at once. A lone
    request waits one turn of the loop (microseconds).
    """

    def __init__(self, scorer: Scorer) -> None:
        self.scorer = scorer
        self._queue: list[tuple[IncomeRecord, asyncio.Future]] = []

    async def predict(self, record: IncomeRecord) -> dict[str, Any]:
        """The record's {label, probability, model_version}."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.append((record, future))
        if len(self._queue) == 1:
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        batch, self._queue = self._queue, []
        try:
            answers = self.scorer.predict([record for record, _ in batch])
        except Exception as exc:  # each waiting request fails as its own run would have
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), answer in zip(batch, answers):
            if not future.done():  # done already if its client went away
                future.set_result(answer)


def _check_signature(session: ort.InferenceSession, path: Path) -> None:
    want = {f: "tensor(int64)" if f in NUMERIC_FEATURES else "tensor(string)" for f in FEATURES}
    have = {i.name: i.type for i in session.get_inputs()}
    outputs = {o.name for o in session.get_outputs()}
    if have != want or not set(_OUTPUTS) <= outputs:
        raise ModelLoadError(
            f"Model {path} does not have the course signature: inputs {have}, outputs "
            f"{sorted(outputs)}; expected inputs {want} and outputs label, probabilities."
        )


def _positive_column(raw: str | None, path: Path) -> int:
    # Without ZipMap the classes are only in metadata ("classes", when the build wrote it);
    # sklearn orders them sorted, which puts ">50K" second.
    if not raw:
        return 1
    try:
        return json.loads(raw).index(POSITIVE_CLASS)
    except (ValueError, AttributeError) as exc:
        raise ModelLoadError(
            f"Model {path} metadata 'classes' lacks {POSITIVE_CLASS!r}: {raw}"
        ) from exc


def _log_category_drift(raw: str | None) -> None:
    if not raw:
        return
    try:
        model_categories = json.loads(raw)
    except ValueError:
        model_categories = None
    if not isinstance(model_categories, dict):
        log.warning("Model metadata 'categories' is not a JSON object; ignored")
        return
    for feature, known in ADULT_CATEGORIES.items():
        extra = set(model_categories.get(feature, ())) - set(known) - {"?"}
        if extra:
            log.warning("Model knows %s values the docs do not list: %s", feature, sorted(extra))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _json_safe(value: Any) -> Any:
    """`value` with what JSON text cannot hold (NaN, infinities, lone surrogates) made into text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_json_safe(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _excerpt(value: Any) -> Any:
    """`value` as a 422 echoes it: as it is if short, else its first EXCERPT_CHARS as text."""
    if isinstance(value, str):
        return value if len(value) <= EXCERPT_CHARS else value[:EXCERPT_CHARS] + "..."
    if isinstance(value, (dict, list)):
        text = json.dumps(value, default=str)
        return value if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "..."
    return value


async def _request_validation_error(request: Request, exc: RequestValidationError) -> Response:
    # FastAPI's own 422 body (each error's field, `loc`, and what is wrong, `msg`), except that
    # the echoed `input` is an excerpt (a missing field would echo the whole body, once per
    # missing field), and what JSON cannot hold ({"age": NaN} and 1e400 parse as floats,
    # "\ud800" as a lone surrogate) comes back as text, where the default handler answers 500.
    errors = [{**e, "input": _excerpt(e["input"])} if "input" in e else e for e in exc.errors()]
    return JSONResponse({"detail": _json_safe(jsonable_encoder(errors))}, status_code=422)


def _dumps(content: Any) -> bytes:
    return json.dumps(content, separators=(",", ":")).encode()


def _json(content: Any) -> Response:
    return Response(_dumps(content), media_type="application/json")


class BodySizeLimit:
    """ASGI middleware: 413 for a request body over its path's limit, without reading the body.

    A Content-Length over the limit is answered at once; a body sent without one (chunked) is
    counted as the app reads it, and reading stops at the limit. The app is public: one large
    POST must not take its memory, nor hold up /health while it arrives. (FastAPI's own
    `max_body_size` answers one case in text/plain and the other in JSON.)
    """

    def __init__(self, app: Any, default: int, limits: dict[str, int]) -> None:
        self.app = app
        self.default = default
        self.limits = limits

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limits.get(scope["path"], self.default)
        detail = f"The body is larger than the {limit} bytes this route accepts."
        # "Connection: close" makes the server drop the connection instead of reading the rest.
        close = {"Connection": "close"}
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            response = JSONResponse({"detail": detail}, status_code=413, headers=close)
            return await response(scope, receive, send)
        received = 0

        async def receive_up_to_limit() -> dict:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise HTTPException(413, detail, headers=close)  # FastAPI answers: the same JSON
            return message

        await self.app(scope, receive_up_to_limit, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API; the model is loaded when the app starts (lifespan), not here."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.scorer = Scorer.load(settings)
        app.state.batcher = Batcher(app.state.scorer)
        log.info("Serving %s, model_version %s", settings.model_path, app.state.scorer.model_version)
        yield
        app.state.scorer = app.state.batcher = None

    class BatchRequest(BaseModel):
        model_config = ConfigDict(
            extra="forbid", json_schema_extra={"examples": [{"records": [SAMPLE_RECORD]}]}
        )
        records: list[IncomeRecord] = Field(
            min_length=1, max_length=settings.batch_max,
            description=f"1 to {settings.batch_max} records.",
        )

    app = FastAPI(
        title="Income prediction (MLOps lab, exercise 4)",
        version="1.0.0",
        description=(
            "Predicts whether a person's income is above 50K USD from the 12 Adult census "
            "features, with the course's ONNX model. Try `POST /predict` with the example."
        ),
        lifespan=lifespan,
        exception_handlers={RequestValidationError: _request_validation_error},
    )
    batch_body_bytes = max(settings.max_body_bytes, settings.batch_max * RECORD_BYTES)
    app.add_middleware(
        BodySizeLimit, default=settings.max_body_bytes, limits={"/predict/batch": batch_body_bytes}
    )

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    # The handlers answer with ready-made JSON: the values come from the model, not from user
    # input, so FastAPI's second validation of them would only cost time (`response_model`
    # still documents the shape).
    @app.get("/health", response_model=Health)
    async def health() -> Response:
        """Liveness and the version of the model being served."""
        return _json({"status": "ok", "model_version": app.state.scorer.model_version})

    # FastAPI validates the body into an IncomeRecord (or answers 422 naming the bad field);
    # the record joins the others that arrived together for one model run (Batcher).
    # `async def`, as the batcher lives on the event loop.
    @app.post("/predict", response_model=Prediction, responses=BAD_BODY)
    async def predict(record: IncomeRecord) -> Response:
        """Score one record: the label and the probability of >50K."""
        return _json(await app.state.batcher.predict(record))

    # Plain `def`: a full batch takes milliseconds, so it runs in the thread pool and does
    # not hold up the event loop.
    @app.post("/predict/batch", response_model=list[Prediction], responses=BAD_BODY)
    def predict_batch(batch: BatchRequest) -> Response:
        """Score 1 to BATCH_MAX records in one model run; answers in request order."""
        return _json(app.state.scorer.predict(batch.records))

    return app


app = create_app()
