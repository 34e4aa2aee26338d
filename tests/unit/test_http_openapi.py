"""The OpenAPI description is a valid OpenAPI 3.0 document (checked by schemathesis against the
official meta-schema) and describes every route the server registers, and no other."""

from __future__ import annotations

import copy

import jsonschema_rs
import pytest
import schemathesis
from aiohttp import web

from bot.http.api import add_api_routes
from bot.http.openapi import openapi_document


def test_the_description_is_valid_openapi():
    schemathesis.openapi.from_dict(openapi_document("1.2.3")).validate()


def test_the_validator_does_refuse_a_broken_description():
    # Proves the check above can fail: a response without its required description.
    broken = copy.deepcopy(openapi_document("1.2.3"))
    del broken["paths"]["/api/v1/status"]["get"]["responses"]["200"]["description"]
    with pytest.raises(jsonschema_rs.ValidationError):
        schemathesis.openapi.from_dict(broken).validate()


def test_every_registered_route_is_described():
    application = web.Application()
    add_api_routes(application, queries=None)  # the routes only; no query is run here
    served = {resource.canonical for resource in application.router.resources()}
    document = openapi_document("1.2.3")
    described = set(document["paths"])
    assert described == served | {"/healthz", "/readyz", "/metrics"}
    for path, item in document["paths"].items():
        operation = item["get"]
        public = operation.get("security") == []
        assert public == (not path.startswith("/api/")), path
        if not public:
            assert {"200", "400", "401", "503"} <= operation["responses"].keys(), path
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "the token set in TRADEBOT_API__TOKEN"}
