"""The task-kind registry: every kind is served, described and run from its declaration."""
from __future__ import annotations

import app as app_module
from chalicelib.api.openapi import build_spec
from chalicelib.kinds import KINDS, kind_named


def test_kind_names_routes_and_views_are_unique():
    for attr in ("name", "view_name"):
        values = [getattr(k, attr) for k in KINDS]
        assert len(set(values)) == len(values), attr
    routes = [(k.path, k.method) for k in KINDS]
    assert len(set(routes)) == len(routes)
    assert kind_named("product_copy").path == "/station/product/copy_task"


def test_each_kind_runs_on_the_engine_under_its_name():
    from chalicelib.bootstrap import Services
    from chalicelib.config import get_settings
    processors = Services(get_settings()).engine.processors
    assert set(processors) == {k.name for k in KINDS}
    for k in KINDS:
        processor = processors[k.name]
        shapes = [hasattr(processor, m) for m in ("process", "process_batch", "stream")]
        assert sum(shapes) == 1 and hasattr(processor, "prepare"), k.name


def test_app_serves_each_kind_under_its_view_name():
    for k in KINDS:
        route = app_module.app.routes[k.path][k.method]
        assert route.view_name == k.view_name and route.authorizer is not None


def test_openapi_describes_each_kind_with_its_request_model():
    spec = build_spec()
    for k in KINDS:
        op = spec["paths"][k.path][k.method.lower()]
        assert op["summary"] == k.summary
        if k.in_query:
            # one parameter per field, or one exploded object (rules between parameters)
            names = {name for p in op["parameters"]
                     for name in (p["schema"]["properties"] if p.get("explode")
                                  and p["schema"].get("type") == "object" else [p["name"]])}
            assert names == set(k.request_model.model_fields)
        else:
            ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/" + k.request_model.__name__)
