"""The stage deploy lock (infra/deploy_state.py) on moto's S3: one holder at a time, the
holder named to the one refused, an expired or broken lock taken over by compare-and-swap."""
from __future__ import annotations

import boto3
import pytest

from infra.deploy_state import StageLock, StageLocked, lock_key


@pytest.fixture
def s3(aws):
    client = boto3.client("s3", endpoint_url=aws["AWS_ENDPOINT_URL"], region_name="us-east-1")
    client.create_bucket(Bucket="deploy-lock-test")
    yield client
    client.delete_object(Bucket="deploy-lock-test", Key=lock_key("dev"))


def test_one_deploy_of_a_stage_at_a_time(s3):
    first = StageLock(s3, "deploy-lock-test", "dev", "pipeline A").acquire()
    with pytest.raises(StageLocked, match="being deployed by 'pipeline A'.*--break-lock"):
        StageLock(s3, "deploy-lock-test", "dev", "pipeline B").acquire()
    first.release()
    with StageLock(s3, "deploy-lock-test", "dev", "pipeline B"):
        pass
    assert s3.list_objects_v2(Bucket="deploy-lock-test").get("KeyCount") == 0


def test_an_expired_or_broken_lock_is_taken_over_and_the_old_holder_does_not_release_it(s3):
    dead = StageLock(s3, "deploy-lock-test", "dev", "killed run", ttl_s=-1).acquire()
    taker = StageLock(s3, "deploy-lock-test", "dev", "next run").acquire()      # expired
    dead.release()                              # not its lock any more: left alone
    with pytest.raises(StageLocked):
        StageLock(s3, "deploy-lock-test", "dev", "third").acquire()
    breaker = StageLock(s3, "deploy-lock-test", "dev", "operator", break_lock=True).acquire()
    taker.release()
    assert s3.get_object(Bucket="deploy-lock-test", Key=lock_key("dev"))["ETag"] == breaker.etag
    breaker.release()
