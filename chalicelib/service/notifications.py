"""Completion notifications: a signed POST to the task's callback_url and an EventBridge
event, for every task that ends (status 3, 4 or 5), through the work queue.

How a finish becomes a notification (docs/notifications.md):

1. `FinishNotices` is the listener of service/lifecycle.finish, the one place a task ends.
   Its `fields` open the task's notification job in the finishing UPDATE itself (a new
   notify_id, the webhook and/or event pending, notify_due_at now), and `finished` sends
   the job's first message `{"kind": "notify", "task_id", "notify_id", "seq": 1}` inside
   that transaction. A message that arrives before the COMMIT waits on the row's lock
   (the handler's locking read); one whose finish rolled back names a notify_id no row
   has and is dropped. A send that fails is logged: the sweeper sends it (step 4).
2. `Notifier.handle_message` claims run `seq` of the job (domain/callbacks.claim_decision:
   a duplicate delivery, a stale run or another finish's message is skipped), publishes
   the event if it is pending, POSTs the task item if the webhook is pending, and records
   both (conditional on the run). The webhook's address is checked again at send time:
   the name is resolved once, every address must be public, and the POST goes to the
   checked address (adapters/webhook.py), so DNS rebinding cannot reach the VPC.
3. What failed is tried again by run seq + 1, sent with an SQS delay from
   NOTIFY_RETRY_DELAYS_S (a wait over SQS's 900 s is split: the message carries
   `not_before` and is sent on until then). After the last run a pending channel gives up
   (state 3); the webhook's attempts and last error stay on the task.
4. `Notifier.sweep` (the sweeper, every minute) re-sends jobs overdue by
   NOTIFY_SWEEP_AFTER_S: a first message that was never sent, a retry message lost, a run
   that died holding its lease.

Receivers get each delivery at least once: a run that POSTed but died before recording is
run again with the same X-Delivery-Id, which is what receivers dedupe by.
"""
from __future__ import annotations

import json
import time
import uuid
from typing import Any, Callable

from pymysql.cursors import DictCursor

from chalicelib.adapters import notify_repo, task_repo, webhook
from chalicelib.adapters.aws import WorkQueue
from chalicelib.adapters.db import Database
from chalicelib.adapters.events import EventBus, EventRefused
from chalicelib.config import Settings
from chalicelib.domain import callbacks as cb
from chalicelib.domain.run import RunResult
from chalicelib.domain.task import TaskStatus
from chalicelib.observability import logger, timings
from chalicelib.service.messages import MalformedMessage

MESSAGE_KIND = "notify"
SQS_MAX_DELAY_S = 900
USER_AGENT = "async-task-notify/1"
SWEEP_BATCH = 200


def job_message(task_id: int, notify_id: str, seq: int, not_before: int = 0) -> dict[str, Any]:
    msg: dict[str, Any] = {"kind": MESSAGE_KIND, "task_id": task_id, "notify_id": notify_id,
                           "seq": seq}
    if not_before:
        msg["not_before"] = not_before
    return msg


def _field(task: Any, name: str) -> Any:
    return task[name] if isinstance(task, dict) else getattr(task, name)


class FinishNotices:
    """The listener lifecycle.finish calls (set by the composition root)."""

    def __init__(self, settings: Settings, queue: Callable[[], WorkQueue]):
        self.events_on = bool(settings.event_bus_name)
        self._queue = queue

    def fields(self, task: Any) -> dict[str, Any]:
        """Columns the finishing UPDATE sets: a new job, or nothing to notify."""
        webhook_on = bool(_field(task, "callback_url"))
        if not (webhook_on or self.events_on):
            return {}
        return {"notify_id": uuid.uuid4().hex, "notify_seq": 0,
                "notify_state": cb.PENDING if webhook_on else cb.NONE,
                "event_state": cb.PENDING if self.events_on else cb.NONE,
                "notify_attempts": 0, "notify_last_error": None, "notified_at": None,
                "notify_due_at": "now"}

    def finished(self, cur: DictCursor, task: Any, fields: dict[str, Any]) -> None:
        """Inside the finishing transaction, after its UPDATE: the job's first message."""
        if not fields:
            return
        task_id = _field(task, "id")
        try:
            self._queue().send([job_message(task_id, fields["notify_id"], 1)],
                               group_id=_field(task, "station_id"))
        except Exception:       # never fails the finish: the sweeper sends it
            logger.exception("could not queue the task's notification",
                             extra={"task_id": task_id})


class Notifier:
    """The "notify" message handler and the sweeper's repair of notification jobs."""

    def __init__(self, db: Database, queue: WorkQueue, settings: Settings, *,
                 item: Callable[[Any], dict[str, Any]], events: EventBus | None,
                 resolve: webhook.Resolver = webhook.resolve,
                 post: Callable[..., webhook.Answer] = webhook.post,
                 clock: Callable[[], float] = time.time):
        self.db, self.queue, self.settings = db, queue, settings
        self.item, self.events = item, events
        self.hosts = cb.AllowList.parse(settings.callback_hosts)
        self.delays = cb.parse_delays(settings.notify_retry_delays_s)
        self._resolve, self._post, self._clock = resolve, post, clock

    # -- the message ----------------------------------------------------------------------
    def handle_message(self, msg: dict[str, Any], remaining_ms: Callable[[], int]) -> RunResult:
        try:
            task_id, notify_id, seq = int(msg["task_id"]), str(msg["notify_id"]), int(msg["seq"])
            not_before = int(msg.get("not_before") or 0)
        except (KeyError, TypeError, ValueError):
            raise MalformedMessage(f"notify message without task_id/notify_id/seq: {msg!r}"
                                   ) from None
        wait = not_before - int(self._clock())
        if wait > 0:            # a retry later than SQS's longest delay: sent on
            self.queue.send([msg], delay_s=min(wait, SQS_MAX_DELAY_S))
            return RunResult.SKIPPED
        claimed = self.db.run(lambda cur: self._claim(cur, task_id, notify_id, seq))
        if claimed is None:
            return RunResult.SKIPPED
        job, task = claimed
        if not TaskStatus(_field(task, "status")).is_final:
            # retried meanwhile (back to 1): this end is not the news any more
            self.db.run(lambda cur: notify_repo.record(cur, task_id, notify_id, seq))
            return RunResult.SKIPPED
        item = self.item(task)
        last = cb.retry_delay(seq, self.delays) is None
        event_state = self._publish(job, item, last) if job.event_state == cb.PENDING else None
        outcome = self._deliver(job, item, seq) if job.notify_state == cb.PENDING else None
        notify_state = None if outcome is None else outcome[0]
        if notify_state == cb.PENDING and last:
            notify_state = cb.GAVE_UP
        pending = cb.PENDING in (notify_state, event_state)
        delay = cb.retry_delay(seq, self.delays) if pending else None
        wrote = self.db.run(lambda cur: notify_repo.record(
            cur, task_id, notify_id, seq, notify_state=notify_state, event_state=event_state,
            attempted=outcome is not None, error=None if outcome is None else outcome[1],
            delivered=notify_state == cb.DONE, next_in_s=delay))
        if wrote and delay is not None:
            self._send_next(task_id, job.station_id, notify_id, seq + 1, delay)
        if notify_state == cb.GAVE_UP:
            timings.count("CallbacksGivenUp")
            logger.warning("callback given up", extra={"task_id": task_id, "seq": seq})
        if not wrote:
            return RunResult.LEASE_LOST
        return RunResult.UNAVAILABLE if delay is not None else RunResult.COMPLETE

    def _claim(self, cur: DictCursor, task_id: int, notify_id: str,
               seq: int) -> tuple[notify_repo.Job, Any] | None:
        """(job, task) when run `seq` may go; the job's lease is then this run's."""
        job = notify_repo.lock(cur, task_id)
        if job is None:
            return None
        decision = cb.claim_decision(
            row_notify_id=job.notify_id, row_seq=job.seq, due_passed=job.due_passed,
            pending=job.pending, msg_notify_id=notify_id, msg_seq=seq)
        if decision != cb.CLAIM:
            return None
        notify_repo.claim(cur, task_id, seq, self.settings.notify_lease_s)
        return job, task_repo.get_any_station(cur, task_id)

    def _send_next(self, task_id: int, station_id: str, notify_id: str, seq: int,
                   delay: int) -> None:
        not_before = int(self._clock()) + delay if delay > SQS_MAX_DELAY_S else 0
        try:
            self.queue.send([job_message(task_id, notify_id, seq, not_before)],
                            delay_s=min(delay, SQS_MAX_DELAY_S), group_id=station_id)
        except Exception:       # the job is due at its time: the sweeper sends it
            logger.exception("could not queue a notification retry", extra={"task_id": task_id})

    # -- the two channels -------------------------------------------------------------------
    def _publish(self, job: notify_repo.Job, item: dict[str, Any], last: bool) -> int:
        if self.events is None:         # the stage has no bus (any more)
            return cb.NONE
        try:
            self.events.publish({"delivery_id": job.notify_id, "station_id": job.station_id,
                                 "task": item})
        except EventRefused as exc:
            timings.count("TaskEventFailures")
            logger.warning("task event not published", extra={
                "task_id": job.task_id, "error": str(exc), "last": last})
            return cb.GAVE_UP if last else cb.PENDING
        timings.count("TaskEventsPublished")
        return cb.DONE

    def _deliver(self, job: notify_repo.Job, item: dict[str, Any],
                 seq: int) -> tuple[int, str | None]:
        """(webhook state, error) after one attempt."""
        allow_local = self.settings.callback_allow_local
        try:
            target = cb.parse_callback(job.callback_url or "", self.hosts,
                                       allow_local=allow_local)
        except cb.CallbackAddressRefused as exc:
            return cb.PENDING, f"refused: {exc.msg}"
        except cb.CallbackRefused as exc:       # the stage no longer accepts it: no retry
            return cb.GAVE_UP, f"refused: {exc.msg}"
        try:
            addresses = self._resolve(target.host, target.port)
        except OSError as exc:
            return cb.PENDING, f"DNS: {target.host}: {exc}"[:512]
        refused = cb.first_refusal(addresses, allow_local=allow_local)
        if refused or not addresses:
            return cb.PENDING, f"refused: {target.host} resolves to {refused or 'nothing'}"
        body = json.dumps(item, ensure_ascii=False, separators=(",", ":"),
                          default=str).encode("utf-8")
        now = int(self._clock())
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
                   cb.DELIVERY_HEADER: job.notify_id or "", cb.EVENT_HEADER: cb.EVENT_TYPE,
                   "X-Delivery-Attempt": str(job.attempts + 1),
                   cb.SIGNATURE_HEADER: cb.signature_header(self.settings.notify_secret, now,
                                                            body)}
        started = time.monotonic()
        answer = self._post(target, addresses[0], body, headers,
                            timeout_s=self.settings.callback_timeout_s,
                            ca_file=self.settings.callback_ca_file)
        timings.observe("Callback", time.monotonic() - started)
        if answer.ok:
            timings.count("CallbacksDelivered")
            return cb.DONE, None
        timings.count("CallbackFailures")
        logger.info("callback attempt failed", extra={
            "task_id": job.task_id, "seq": seq, "error": answer.error})
        return cb.PENDING, answer.error

    # -- the sweeper's repair ---------------------------------------------------------------
    def sweep(self) -> dict[str, int]:
        rows = self.db.run(lambda cur: notify_repo.overdue(
            cur, self.settings.notify_sweep_after_s, SWEEP_BATCH))
        for row in rows:
            self._send_next(row["id"], row["station_id"], row["notify_id"],
                            row["notify_seq"] + 1, 0)
        return {"resent": len(rows)}
