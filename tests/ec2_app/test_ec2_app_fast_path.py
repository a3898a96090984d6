"""PredictFastPath answers exactly as the FastAPI /predict route would, and hands it the rest."""
from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from ec2_app.app import SAMPLE_RECORD, PredictFastPath, Settings, create_app

JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def route_only(model_path):
    """The same app without the fast path: every request goes through FastAPI's route."""
    app = create_app(Settings(model_path=model_path))
    app.user_middleware = [m for m in app.user_middleware if m.cls is not PredictFastPath]
    with TestClient(app) as test_client:
        yield test_client


VALID_BODIES = [
    json.dumps(SAMPLE_RECORD),
    json.dumps(dict(reversed(list(SAMPLE_RECORD.items())))),
    json.dumps({**SAMPLE_RECORD, "capital_gain": 0.0, "hours_per_week": 28.0, "age": 1.7e1}),
    json.dumps({**SAMPLE_RECORD, "occupation": "Astronaut", "native_country": "?"}),
    json.dumps({**SAMPLE_RECORD, "native_country": "Itália", "race": "\x00"}, ensure_ascii=False),
    json.dumps({**SAMPLE_RECORD, "sex": "😀"}),
    # duplicate key: both parsers keep the last one
    json.dumps(SAMPLE_RECORD)[:-1] + ', "age": 80}',
    "  \n" + json.dumps(SAMPLE_RECORD, indent=2) + "\n",
]


@pytest.mark.parametrize("body", VALID_BODIES)
def test_fast_path_answers_byte_for_byte_like_the_route(client, route_only, body):
    fast = client.post("/predict", content=body.encode(), headers=JSON)
    route = route_only.post("/predict", content=body.encode(), headers=JSON)
    assert (fast.status_code, route.status_code) == (200, 200)
    assert fast.content == route.content
    assert fast.headers["content-type"] == route.headers["content-type"] == "application/json"
    assert fast.headers["content-length"] == route.headers["content-length"]


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({**SAMPLE_RECORD, "age": "39"}),
        json.dumps({**SAMPLE_RECORD, "extra": 1}),
        json.dumps(SAMPLE_RECORD).replace('"age": 39', '"age": NaN'),
        json.dumps({**SAMPLE_RECORD, "occupation": "\ud800"}),
        "[]",
        "",
        "{",
    ],
)
def test_bodies_the_model_rejects_get_the_routes_422(client, route_only, body):
    fast = client.post("/predict", content=body.encode(), headers=JSON)
    route = route_only.post("/predict", content=body.encode(), headers=JSON)
    assert fast.status_code == 422
    assert fast.json() == route.json()


@pytest.mark.parametrize(
    ("content_type", "status"),
    [("application/json; charset=utf-8", 200), ("Application/JSON", 200), ("application/ld+json", 200), ("text/plain", 422)],
)
def test_content_type_is_judged_like_fastapi_does(client, route_only, content_type, status):
    body = json.dumps(SAMPLE_RECORD).encode()
    fast = client.post("/predict", content=body, headers={"content-type": content_type})
    route = route_only.post("/predict", content=body, headers={"content-type": content_type})
    assert fast.status_code == route.status_code == status
    assert fast.content == route.content


def test_body_in_several_chunks_is_read_whole(client):
    body = json.dumps(SAMPLE_RECORD).encode()
    chunks = iter([body[:10], body[10:50], body[50:]])
    response = client.post("/predict", content=chunks, headers=JSON)
    assert response.status_code == 200
    assert response.json() == client.post("/predict", json=SAMPLE_RECORD).json()


def test_other_routes_are_untouched(client):
    assert client.get("/predict").status_code == 405
    assert client.post("/predict/batch", json={"records": [SAMPLE_RECORD]}).status_code == 200


def test_the_app_is_built_with_the_fast_path(model_path):
    app = create_app(Settings(model_path=model_path))
    assert [m.cls for m in app.user_middleware] == [PredictFastPath]
