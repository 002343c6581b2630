"""A throwaway Chalice app for testing infra/local/runtime.py (never deployed).

Handlers write what they saw into $SAMPLE_OUT_DIR (read per call, so one import serves
any test) and the queue comes from $SAMPLE_QUEUE_NAME, read when the decorator runs,
as the real app.py reads WORK_QUEUE_NAME.

SQS bodies steer the worker: "fail-once:<id>" raises on the first delivery only,
"fail-until:<n>:<id>" raises on deliveries 1..n, "sleep-once:<seconds>:<id>" sleeps on the
first delivery only (to outlive a short lambda_timeout). Every attempt is appended to
attempts.jsonl before anything else; a success writes msg-<messageId>.json.
"""
import json
import os
import time
from pathlib import Path

from chalice import AuthResponse, Chalice

app = Chalice(app_name="sample")


def _out(name: str) -> Path:
    return Path(os.environ["SAMPLE_OUT_DIR"]) / name


@app.authorizer()
def token_auth(auth_request):
    if auth_request.token == "good":
        return AuthResponse(routes=["*"], principal_id="tester", context={"who": "tester"})
    return AuthResponse(routes=[], principal_id="nobody")


@app.route("/hello", methods=["GET"], authorizer=token_auth)
def hello():
    request = app.current_request
    return {"hello": request.context["authorizer"]["principalId"], "pid": os.getpid()}


@app.route("/open/{name}", methods=["GET", "POST"])
def open_route(name):
    return {"name": name, "body": app.current_request.raw_body.decode() or None}


@app.route("/hold/{name}", methods=["GET"])
def hold(name):
    """Notes its entry in $SAMPLE_OUT_DIR/held.log, then blocks until the test opens and
    closes the FIFO $SAMPLE_OUT_DIR/<name>.fifo (the API pool tests' barrier)."""
    with _out("held.log").open("a") as fh:
        fh.write(f"{name} {os.getpid()}\n")
    with open(_out(f"{name}.fifo")) as fifo:
        fifo.read()
    return {"held": name, "pid": os.getpid()}


@app.route("/sleep/{seconds}", methods=["GET"])
def sleep_route(seconds):
    """Outlives a short lambda_timeout (the API pool's timeout test)."""
    time.sleep(float(seconds))
    return {"slept": seconds}


@app.on_sqs_message(queue=os.environ.get("SAMPLE_QUEUE_NAME", "sample-queue"),
                    batch_size=1, maximum_concurrency=2)
def consume(event):
    for record in event:
        raw = record.to_dict()
        seen = {"body": record.body, "message_id": raw["messageId"], "pid": os.getpid(),
                "receive_count": int(raw["attributes"]["ApproximateReceiveCount"]),
                "remaining_ms": event.context.get_remaining_time_in_millis(),
                "function_name": event.context.function_name,
                "event_source": raw["eventSource"], "queue_arn": raw["eventSourceARN"]}
        with _out("attempts.jsonl").open("a") as fh:
            fh.write(json.dumps(seen) + "\n")
        kind, _, rest = record.body.partition(":")
        first = seen["receive_count"] == 1
        if kind == "sleep-once" and first:
            time.sleep(float(rest.partition(":")[0]))
        failing_until = 1 if kind == "fail-once" else (
            int(rest.partition(":")[0]) if kind == "fail-until" else 0)
        if seen["receive_count"] <= failing_until:
            raise RuntimeError(f"refusing {record.body}")
        target = _out(f"msg-{raw['messageId']}.json")   # written atomically: tests poll it
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(seen))
        tmp.replace(target)


@app.schedule("rate(1 minute)")
def tick(event):
    with _out("ticks.log").open("a") as fh:
        fh.write(f"{os.getpid()} {event.detail_type} {event.time}\n")
