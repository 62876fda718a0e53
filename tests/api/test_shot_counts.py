"""Shot counts through the API: a short script is not padded to a minimum, a long one gets more shots."""

from __future__ import annotations

from tests.conftest import create_body


def test_a_one_sentence_script_makes_one_shot(client):
    response = client.post("/api/v1/storyboard/create", json=create_body(script_content="One day a cat woke up."))
    assert response.status_code == 200, response.text
    assert [shot["narration"] for shot in response.json()["shots"]] == ["One day a cat woke up."]


def test_an_exact_count_the_script_cannot_give_names_the_field(client):
    body = create_body(script_content="小猫醒了。它吃了一条鱼。", shot_count=3)
    response = client.post("/api/v1/storyboard/create", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "shot_count"


def test_the_shot_length_cap_is_a_setting(make_client):
    client = make_client(max_shot_seconds=5)
    response = client.post("/api/v1/storyboard/create", json=create_body())
    assert response.status_code == 200, response.text
    assert len(response.json()["shots"]) >= 8  # the default script speaks for about 40 s
