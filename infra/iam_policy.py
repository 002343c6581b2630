"""The operator's IAM policy for the DLQ commands of the CLI (`make cli ARGS='dlq redrive'`).

The functions only look at the DLQ (infra/deploy.py lambda_policy: receive with visibility
0, depth); moving messages back is an operator's act after a fix, so deleting from the DLQ
and sending its messages to the work queue is granted here, to a person's role, and not to
the functions.

    python -m infra.iam_policy --stage prod --account 123456789012 [--region eu-west-1]
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def operator_policy(env: dict[str, str], *, account: str, region: str) -> dict[str, Any]:
    from infra.deploy import dead_letter_queue_name
    arn = f"arn:aws:sqs:{region}:{account}"
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "RedriveFromDeadLetterQueue", "Effect": "Allow",
         "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                    "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
         "Resource": [f"{arn}:{dead_letter_queue_name(env)}"]},
        {"Sid": "RedriveToWorkQueue", "Effect": "Allow",
         "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
         "Resource": [f"{arn}:{env['WORK_QUEUE_NAME']}"]},
    ]}


def main(argv: list[str] | None = None) -> int:
    from infra.deploy import stage_config
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", required=True)
    parser.add_argument("--account", required=True)
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args(argv)
    json.dump(operator_policy(stage_config(args.stage)["env"], account=args.account,
                              region=args.region), sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
