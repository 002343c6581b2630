"""The infra stack of a deploy (`async-task-<stage>` from infra/template.yaml), through change
sets, so a changed template or parameter reaches a stage that already exists.

    apply_stack(cfn, stage, parameters)   # -> the stack's outputs

- No stack yet (or one left in REVIEW_IN_PROGRESS by an interrupted first deploy): a CREATE
  change set. Otherwise an UPDATE change set with the current template.
- The change set is printed (resource, action, replacement) before it is executed; one
  without changes is deleted and nothing is executed.
- A stack still *_IN_PROGRESS (another deploy's update, or one that was interrupted while
  CloudFormation went on with it) is waited for first; a stack that ended in
  UPDATE_ROLLBACK_COMPLETE is a normal, updatable stack. A failed first create
  (ROLLBACK_COMPLETE) stops the deploy: that stack can only be deleted (by an operator).
- Parameters not given take the template's default (so a changed default reaches the
  stage), except AlarmActionArn, which keeps its current value (UsePreviousValue): an alarm
  action set at one deploy is not cleared by a later deploy that does not name it.
- Change sets left behind by interrupted deploys (named deploy-*) are deleted.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from botocore.exceptions import ClientError

from infra.local.aws import (TEMPLATE_PATH, describe, failure_reasons, stack_name,
                              template_parameters)

CHANGE_SET_PREFIX = "deploy-"
NO_CHANGES = ("didn't contain changes", "No updates are to be performed",
              "The submitted information didn't contain changes")


class StackError(RuntimeError):
    """The stack could not be brought to the template (message names why)."""


def _wait(what: str, poll: Callable[[], str | None], timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    delay = 0.2
    while True:
        done = poll()
        if done:
            return done
        if time.monotonic() > deadline:
            raise StackError(f"{what}: still not done after {timeout_s:.0f}s")
        time.sleep(delay)       # polling CloudFormation's status with a deadline
        delay = min(delay * 1.5, 5.0)


def settled(cfn: Any, name: str, timeout_s: float) -> dict[str, Any] | None:
    """The stack once no operation is running on it (None: there is none)."""
    def poll() -> str | None:
        stack = describe(cfn, name)
        if stack is None or not stack["StackStatus"].endswith("_IN_PROGRESS") \
                or stack["StackStatus"] == "REVIEW_IN_PROGRESS":
            return "settled"
        return None
    stack = describe(cfn, name)
    if stack is not None and stack["StackStatus"].endswith("_IN_PROGRESS") \
            and stack["StackStatus"] != "REVIEW_IN_PROGRESS":
        print(f"stack {name} is {stack['StackStatus']}: waiting for it", flush=True)
        _wait(f"stack {name}", poll, timeout_s)
    return describe(cfn, name)


# Set by the operator on some deploys only (ALARM_ACTION_ARN): a deploy that does not name
# it keeps the current value. Every other parameter not given takes the template's default,
# so a changed default reaches the stage.
KEEP_PREVIOUS = ("AlarmActionArn",)


def parameter_list(stack: dict[str, Any] | None, parameters: dict[str, Any]
                   ) -> list[dict[str, Any]]:
    given = template_parameters(parameters)
    names = {p["ParameterKey"] for p in given}
    current = {p["ParameterKey"] for p in (stack or {}).get("Parameters", [])}
    given += [{"ParameterKey": key, "UsePreviousValue": True}
              for key in KEEP_PREVIOUS if key in current and key not in names]
    return given


def delete_leftover_change_sets(cfn: Any, name: str) -> None:
    try:
        summaries = cfn.list_change_sets(StackName=name).get("Summaries", [])
    except ClientError:
        return
    for summary in summaries:
        if summary["ChangeSetName"].startswith(CHANGE_SET_PREFIX):
            cfn.delete_change_set(StackName=name, ChangeSetName=summary["ChangeSetName"])


def describe_changes(change_set: dict[str, Any]) -> list[str]:
    lines = []
    for change in change_set.get("Changes", []):
        rc = change.get("ResourceChange", {})
        replace = rc.get("Replacement")
        lines.append(f"  {rc.get('Action')} {rc.get('LogicalResourceId')} "
                     f"({rc.get('ResourceType')})"
                     + (f" replacement={replace}" if replace and replace != "False" else ""))
    return lines


def apply_stack(cfn: Any, stage: str, parameters: dict[str, Any], *,
                template_path: Path = TEMPLATE_PATH, timeout_s: float = 1800) -> dict[str, str]:
    name = stack_name(stage)
    template = template_path.read_text()
    stack = settled(cfn, name, timeout_s)
    if stack is not None and stack["StackStatus"] == "ROLLBACK_COMPLETE":
        raise StackError(f"stack {name} is ROLLBACK_COMPLETE (its first create failed: "
                         f"{failure_reasons(cfn, name)}); delete it, then deploy again")
    creating = stack is None or stack["StackStatus"] == "REVIEW_IN_PROGRESS"
    if stack is not None:
        delete_leftover_change_sets(cfn, name)
    change_set_name = f"{CHANGE_SET_PREFIX}{int(time.time())}"
    created = cfn.create_change_set(
        StackName=name, ChangeSetName=change_set_name, TemplateBody=template,
        ChangeSetType="CREATE" if creating else "UPDATE",
        Parameters=parameter_list(None if creating else stack,
                                  {"Stage": stage, **parameters}),
        Description=f"make deploy STAGE={stage}")
    change_set_id = created["Id"]

    def change_set_ready() -> str | None:
        cs = cfn.describe_change_set(ChangeSetName=change_set_id, StackName=name)
        return cs["Status"] if cs["Status"] in ("CREATE_COMPLETE", "FAILED") else None
    status = _wait(f"change set {change_set_name}", change_set_ready, timeout_s)
    change_set = cfn.describe_change_set(ChangeSetName=change_set_id, StackName=name)
    if status == "FAILED":
        reason = change_set.get("StatusReason", "")
        if any(marker in reason for marker in NO_CHANGES) or (
                not creating and not change_set.get("Changes")):
            cfn.delete_change_set(ChangeSetName=change_set_id, StackName=name)
            print(f"stack {name}: no changes", flush=True)
            return outputs_of(describe(cfn, name))
        raise StackError(f"change set for {name} failed: {reason}")
    if not creating and not change_set.get("Changes"):
        cfn.delete_change_set(ChangeSetName=change_set_id, StackName=name)
        print(f"stack {name}: no changes", flush=True)
        return outputs_of(describe(cfn, name))
    print(f"stack {name}: {'create' if creating else 'update'}", flush=True)
    print("\n".join(describe_changes(change_set)), flush=True)
    cfn.execute_change_set(ChangeSetName=change_set_id, StackName=name)
    wanted = "CREATE_COMPLETE" if creating else "UPDATE_COMPLETE"

    def executed() -> str | None:
        current = describe(cfn, name)
        state = current["StackStatus"] if current else "MISSING"
        if state.endswith("_IN_PROGRESS"):
            return None
        return state
    final = _wait(f"stack {name}", executed, timeout_s)
    if final != wanted:
        raise StackError(f"stack {name} ended {final}: {failure_reasons(cfn, name)}")
    return outputs_of(describe(cfn, name))


def outputs_of(stack: dict[str, Any] | None) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in (stack or {}).get("Outputs", [])}
