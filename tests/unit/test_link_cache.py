"""A warm instance signs each file's link once per half lifetime (signing is ~1 ms of CPU
per task on every /task/list poll): the same link again, still valid for >= TTL / 2."""
import boto3

from chalicelib.adapters.aws import FileStore


def _store(ttl_s: int) -> FileStore:
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")      # signing is local: no request
    return FileStore("bucket", ttl_s, s3=s3)


def test_link_is_reused_within_half_its_lifetime() -> None:
    files = _store(900)
    first = files.link("reports/1.csv")
    assert files.link("reports/1.csv") == first
    assert files.link("reports/2.csv") != first


def test_cache_is_bounded() -> None:
    files = _store(900)
    files.LINK_CACHE_MAX = 3
    for i in range(10):
        files.link(f"k{i}")
    assert len(files._links) <= 3
