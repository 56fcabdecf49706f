"""The OpenAPI description covers every route the app serves."""
from __future__ import annotations

import re

# Not part of the JSON API: static files, the description itself, and human-facing HTML
# pages (the API docs, and the demo SMS outbox page).
IGNORED_ENDPOINTS = {"static", "apifairy.json", "apifairy.docs", "dev.outbox_page"}
HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
# The staff workspace and admin pages.
HTML_BLUEPRINTS = ("staff.", "admin.", "workspace.", "case_pages.", "idporten.")


def _app_operations(app) -> set:
    operations = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint in IGNORED_ENDPOINTS or rule.endpoint.startswith(HTML_BLUEPRINTS):
            continue
        path = re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods & HTTP_METHODS:
            operations.add((path, method.lower()))
    return operations


def test_openapi_lists_every_route_with_a_summary(client, app):
    response = client.get("/openapi.json")

    assert response.status_code == 200
    spec = response.json
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "Din side – citizen portal API"

    documented = {(path, method) for path, operations in spec["paths"].items()
                  for method in operations if method.upper() in HTTP_METHODS}
    served = _app_operations(app)
    assert len(served) >= 9
    assert documented == served

    for path, method in documented:
        operation = spec["paths"][path][method]
        assert operation.get("summary", "").strip(), (method, path)
        assert operation.get("responses"), (method, path)


def test_path_parameters_are_integers(client):
    spec = client.get("/openapi.json").json
    for path in ("/api/v1/me/letters/{letter_id}", "/api/v1/me/offers/{offer_id}/answer"):
        operation = next(iter(spec["paths"][path].values()))
        params = spec["paths"][path].get("parameters", []) + operation.get("parameters", [])
        (param,) = [p for p in params if p["in"] == "path"]
        assert param["required"] is True
        assert param["schema"]["type"] == "integer"


def test_request_bodies_and_errors_are_described(client):
    spec = client.get("/openapi.json").json
    dispatch = spec["paths"]["/api/v1/dispatch/letters"]["post"]
    assert "requestBody" in dispatch
    assert {"201", "401", "404", "409", "422"} <= set(dispatch["responses"])
    answer = spec["paths"]["/api/v1/me/offers/{offer_id}/answer"]["post"]
    assert "requestBody" in answer
    assert {"200", "401", "404", "409"} <= set(answer["responses"])


def test_docs_page_is_served(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert "openapi.json" in response.get_data(as_text=True)
