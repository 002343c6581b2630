"""Chalice wiring only: routes, the queue worker and the sweeper schedule.

Each handler parses nothing and decides nothing: it hands the request or event to
chalicelib (api/* for HTTP, service/* for work) through the composition root.
"""
from chalice import Chalice, CORSConfig, Rate

from chalicelib import observability
from chalicelib.api import (auth, docs_views, import_views, internal_views, task_views,
                            ui_views)
from chalicelib.api.http import endpoint, native_errors_as_envelope
from chalicelib.api.kind_views import kind_view
from chalicelib.bootstrap import services
from chalicelib.config import get_settings
from chalicelib.kinds import KINDS

app = Chalice(app_name="async-task")
observability.register(app)
app.register_middleware(native_errors_as_envelope, "http")

# Decorator arguments are read when Chalice loads the app; `chalice deploy --stage X`
# loads it with stage X's environment, so each stage wires its own queue and CORS origin.
_settings = get_settings()
if _settings.cors_allow_origin:     # every route; API Gateway answers the preflight
    app.api.cors = CORSConfig(allow_origin=_settings.cors_allow_origin,
                              allow_headers=list(observability.CORS_ALLOW_HEADERS),
                              expose_headers=["X-Correlation-Id", "ETag"], max_age=600)


@app.authorizer(ttl_seconds=_settings.auth_cache_ttl_s)
def station_auth(auth_request):
    settings = services().settings
    return auth.authorize(auth_request, settings.token_secret,
                          max_lifetime_s=settings.token_max_lifetime_s)


# -- public task API (seed contract) ------------------------------------------------------
@app.route("/task/get", methods=["GET"], authorizer=station_auth)
@endpoint
def task_get():
    return task_views.get_task(app.current_request, services())


@app.route("/task/list", methods=["GET"], authorizer=station_auth)
@endpoint
def task_list():
    return task_views.list_tasks(app.current_request, services())


@app.route("/task/failures", methods=["GET"], authorizer=station_auth)
@endpoint
def task_failures():
    return task_views.failures(app.current_request, services())


@app.route("/task/clear_show", methods=["POST"], authorizer=station_auth)
@endpoint
def task_clear_show():
    return task_views.clear_show(app.current_request, services())


@app.route("/task/cancel", methods=["POST"], authorizer=station_auth)
@endpoint
def task_cancel():
    return task_views.cancel(app.current_request, services())


@app.route("/task/retry", methods=["POST"], authorizer=station_auth)
@endpoint
def task_retry():
    return task_views.retry(app.current_request, services())


# -- business endpoints: one route per registered task kind (chalicelib/kinds) ------------
for _kind in KINDS:
    app.route(_kind.path, methods=[_kind.method], authorizer=station_auth)(
        kind_view(_kind, lambda: app.current_request, services))


# -- the import page: a spreadsheet read and checked, its template, the operation cycles --
@app.route("/station/order/batch/preview", methods=["POST"], authorizer=station_auth)
@endpoint
def order_batch_preview():
    return import_views.preview(app.current_request, services())


@app.route("/station/order/batch/template", methods=["GET"], authorizer=station_auth)
@endpoint
def order_batch_template():
    return import_views.template(app.current_request, services())


@app.route("/station/time_config/list", methods=["GET"], authorizer=station_auth)
@endpoint
def time_config_list():
    return import_views.time_configs(app.current_request, services())


# -- internal API for worker-side processes (shared auth_key): /internal/task/<action> ------
def _internal_view(action):
    def view():
        return internal_views.dispatch(action, app.current_request, services())
    view.__name__ = f"internal_task_{action}"
    return view


for _action in internal_views.ACTIONS:
    app.route(f"/internal/task/{_action}", methods=["POST"])(endpoint(_internal_view(_action)))


# -- API description (no auth: it names routes and fields, no data) ----------------------
@app.route("/openapi.json", methods=["GET"])
def openapi_spec():
    from chalicelib.api.openapi import build_spec
    return build_spec()


# -- task center page (static files, no auth: the page logs in with the station token) ---
@app.route("/ui", methods=["GET"])
@endpoint
def ui_index():
    return ui_views.index(app.current_request)


@app.route("/ui/{asset}", methods=["GET"])
@endpoint
def ui_asset(asset):
    return ui_views.asset(asset)


# -- the API page for frontend developers (Swagger UI over /openapi.json; no auth) -------
@app.route("/docs", methods=["GET"])
@endpoint
def docs_page():
    return docs_views.page()


@app.route("/docs/{asset}", methods=["GET"])
@endpoint
def docs_asset(asset):
    return docs_views.asset(asset)


# -- background work ----------------------------------------------------------------------
@app.on_sqs_message(queue=_settings.work_queue_name, batch_size=1,
                    maximum_concurrency=_settings.worker_concurrency)
def work(event):
    for record in event:
        services().messages.handle(record.body, event.context.get_remaining_time_in_millis)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def sweep(event):
    services().sweeper.sweep()
