"""The OpenAPI document carries a realistic example for every request body and parameter, each valid
against its own schema, and the seed endpoints' examples really work when sent in order (what a
newcomer does with "Try it out" in /docs)."""

from __future__ import annotations

from typing import Any, Iterator

import jsonschema_rs
import pytest

from story2video import protocol
from story2video.api import examples
from story2video.stages import schemas as stage_schemas

METHODS = ("get", "put", "post", "delete", "patch")


def _operations(schema: dict) -> Iterator[tuple[str, dict]]:
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method]


def _validator(schema: dict, document: dict):
    """A JSON Schema 2020-12 validator for ``schema`` whose `#/components/...` refs resolve in ``document``."""
    return jsonschema_rs.Draft202012Validator({**schema, "components": document["components"]})


def _is_file(media: dict) -> bool:
    return media.get("schema", {}).get("format") == "binary"


def _body_examples(media: dict) -> list[Any]:
    named = [example["value"] for example in media.get("examples", {}).values()]
    return named + ([media["example"]] if "example" in media else []) + media.get("schema", {}).get("examples", [])


def _parameter_examples(parameter: dict) -> list[Any]:
    named = [example["value"] for example in parameter.get("examples", {}).values()]
    single = [parameter["example"]] if "example" in parameter else []
    return named + single + parameter["schema"].get("examples", [])


@pytest.fixture
def document(client) -> dict:
    return client.get("/openapi.json").json()


def test_every_json_body_has_examples_that_match_its_schema(document):
    checked = 0
    for name, operation in _operations(document):
        for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
            if _is_file(media):
                continue  # the file itself: Swagger UI offers a file picker
            values = _body_examples(media)
            assert values, f"{name} ({media_type}) has no example"
            validator = _validator(media["schema"], document)
            for value in values:
                errors = [error.message for error in validator.iter_errors(value)]
                assert not errors, (name, value, errors)
                checked += 1
    assert checked >= 7


def test_every_parameter_has_an_example_that_matches_its_schema(document):
    checked = 0
    for name, operation in _operations(document):
        for parameter in operation.get("parameters", []):
            values = _parameter_examples(parameter)
            assert values, f"{name}: {parameter['in']} parameter '{parameter['name']}' has no example"
            validator = _validator(parameter["schema"], document)
            for value in values:
                assert validator.is_valid(value), (name, parameter["name"], value)
                checked += 1
    assert checked >= 30


def test_body_examples_pass_the_servers_own_validation(document):
    """JSON Schema cannot say everything the request models check (strict types, stripped strings)."""
    checked = 0
    for name, operation in _operations(document):
        media = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if media is not None:
            name = media["schema"]["$ref"].rsplit("/", 1)[-1]
            model = getattr(protocol, name, None) or getattr(stage_schemas, name)  # seed 003's bodies live apart
            for value in _body_examples(media):
                model.model_validate(value)
                checked += 1
    assert checked >= 7


def test_the_swagger_ui_default_example_is_the_readme_walkthrough(document):
    """Swagger UI fills "Try it out" with the first named example."""
    body = document["paths"]["/api/v1/storyboard/create"]["post"]["requestBody"]["content"]["application/json"]
    first = next(iter(body["examples"].values()))["value"]
    assert first["script_content"] == examples.SCRIPT and "。" in first["script_content"]
    assert list(first)[:3] == ["operation_id", "story_id", "user_id"]


def test_the_seed_examples_work_when_sent_in_order(client, document):
    """Both storyboards, both shot edits, then the walkthrough render, exactly as the examples say."""
    paths = document["paths"]

    def post(path: str, name: str) -> dict:
        body = paths[path]["post"]["requestBody"]["content"]["application/json"]["examples"][name]["value"]
        response = client.post(path, json=body)
        assert response.status_code == 200, (path, name, response.text)
        assert response.json()["operation"]["status"] == "Success", response.text
        return response.json()

    walkthrough = post("/api/v1/storyboard/create", "walkthrough")
    assert len(walkthrough["shots"]) >= 2 and walkthrough["shots"][0]["image_url"]
    options = post("/api/v1/storyboard/create", "options")
    assert len(options["shots"]) == 4
    assert post("/api/v1/shot/regenerate", "walkthrough")["shot"]["detail"].startswith("新的细节描述")
    assert post("/api/v1/shot/regenerate", "every_field")["shot"]["subject"] == "少女背着画板"
    assert post("/api/v1/video/render", "walkthrough")["video_url"].endswith(".mp4")

    # The path and query examples then name what those calls made.
    story = client.get(f"/api/v1/stories/{examples.STORY_ID}", params={"user_id": examples.USER_ID})
    assert story.status_code == 200, story.text
    shot = client.get(f"/api/v1/stories/{examples.STORY_ID}/shots/{examples.SHOT_ID}", params={"user_id": examples.USER_ID})
    assert shot.status_code == 200, shot.text
    operation = client.get(f"/api/v1/operations/{examples.OPERATION_ID}", params={"user_id": examples.USER_ID})
    assert operation.status_code == 200 and operation.json()["kind"] == "video.render", operation.text
