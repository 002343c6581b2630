"""A write-only stream into one S3 object by multipart upload, for files too big for memory.

Bytes are buffered until a part is full (`part_size`, at least S3's 5 MiB minimum), then
the part is uploaded on a background thread while the writer keeps producing the next
one; at most one part is in flight, so memory stays at about two parts whatever the file
size. `close()` uploads the last (possibly short) part and completes the upload;
`abort()` (also on any exception inside `with`) aborts it, so no half file appears and
no stored parts are left behind.

It is an `io.RawIOBase`: wrap it in `io.BufferedWriter`/`io.TextIOWrapper` for text, or
hand it to zipfile (XlsxWriter) as an unseekable file: `tell()` works, `seek()` does not,
so zip members are written with data descriptors.
"""
from __future__ import annotations

import io
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

MIN_PART_SIZE = 5 * 1024 * 1024


class MultipartWriter(io.RawIOBase):
    def __init__(self, s3: Any, bucket: str, key: str, *, content_type: str,
                 download_name: str | None = None, part_size: int = 8 * 1024 * 1024):
        super().__init__()
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes")
        self.s3, self.bucket, self.key, self.part_size = s3, bucket, key, part_size
        extra = {}
        if download_name:       # the name a browser saves it as (RFC 6266, UTF-8)
            extra["ContentDisposition"] = f"attachment; filename*=UTF-8''{quote(download_name)}"
        self._upload_id = s3.create_multipart_upload(
            Bucket=bucket, Key=key, ContentType=content_type, **extra)["UploadId"]
        self._buf = bytearray()
        self._parts: list[dict[str, Any]] = []
        self._written = 0
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3-part")
        self._in_flight: Future | None = None
        self._done = False
        self.peak_buffer = 0

    # -- io.RawIOBase --------------------------------------------------------------------
    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._written

    def write(self, data: Any) -> int:
        if self._done:
            raise ValueError("write to a finished upload")
        n = len(data)
        self._buf += data
        self._written += n
        self.peak_buffer = max(self.peak_buffer, len(self._buf))
        if len(self._buf) >= self.part_size:
            self._ship(bytes(self._buf))
            self._buf.clear()
        return n

    def close(self) -> None:
        """Upload what is left and complete the object (idempotent)."""
        if not self._done:
            try:
                if self._buf or not self._parts:
                    self._ship(bytes(self._buf))
                    self._buf.clear()
                self._wait()
                self.s3.complete_multipart_upload(
                    Bucket=self.bucket, Key=self.key, UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts})
                self._done = True
            except BaseException:
                self.abort()
                raise
            finally:
                self._pool.shutdown(wait=True)
        super().close()

    def abort(self) -> None:
        """Drop the upload and its stored parts; safe to call more than once."""
        if self._done:
            return
        self._done = True
        try:
            self._wait()
        except Exception:   # the part failed: that is why we abort
            pass
        self._pool.shutdown(wait=True)
        self._buf = bytearray()
        self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key,
                                       UploadId=self._upload_id)
        super().close()

    @property
    def size(self) -> int:
        return self._written

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    # -- parts -----------------------------------------------------------------------------
    def _ship(self, data: bytes) -> None:
        self._wait()                    # at most one part in flight
        number = len(self._parts) + 1
        self._parts.append({"PartNumber": number})
        self._in_flight = self._pool.submit(self._upload, number, data)

    def _upload(self, number: int, data: bytes) -> None:
        resp = self.s3.upload_part(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id,
                                   PartNumber=number, Body=data)
        self._parts[number - 1]["ETag"] = resp["ETag"]

    def _wait(self) -> None:
        if self._in_flight is not None:
            future, self._in_flight = self._in_flight, None
            future.result()
