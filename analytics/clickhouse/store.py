"""Where the analytics store's SQL runs.

``ANALYTICS_STORE`` names it:

- ``chdb:PATH`` (or ``chdb://PATH``): ClickHouse's engine inside this process (the ``chdb``
  package), its data in the directory PATH; ``chdb:`` alone keeps it in memory. The tests
  and benchmarks use it; it suits one process at a time.
- ``clickhouse://[user[:password]@]host[:8123][/database]``: a ClickHouse server over its
  HTTP interface (``clickhouses://`` for HTTPS), as docker-compose's ``clickhouse`` service.
  Without a password in the URL, ``CLICKHOUSE_PASSWORD`` is used (any characters, no
  URL-encoding, and the secret stays out of the URL). A server that cannot be reached (or
  answers 502/503/504: restarting) raises ``StoreUnreachable``, which writers retry.

Both answer ``execute(sql)`` and ``query(sql) -> polars.DataFrame`` (Arrow on the wire), and
``insert_events(frame)`` writes conformed events (analytics.schema.EVENT_SCHEMA).
"""

from __future__ import annotations

import http.client
import io
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import polars as pl

from ..schema import EVENT_SCHEMA, InputError
from .schema import events_ddl, rasa_events_ddl


class StoreUnreachable(InputError):
    """The ClickHouse server did not answer (down, restarting): worth trying again."""


def sql_string(value: str) -> str:
    """A ClickHouse string literal (backslash escapes; quotes and backslashes escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'").replace("\0", "\\0") + "'"


def server_parts(url: str) -> urllib.parse.SplitResult:
    """A clickhouse:// URL's parts, or InputError naming no part of it: a password with an
    unencoded '/', '#', '?' or '@' would otherwise be read as the host or the port, and
    shown (or sent) as one."""
    unreadable = InputError(
        "ANALYTICS_STORE is not a readable clickhouse://USER@HOST:PORT/DATABASE URL; put the "
        "password in CLICKHOUSE_PASSWORD (or percent-encode it in the URL)")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError when the port is not a number
    except ValueError:
        raise unreadable from None
    if (not parts.hostname or parts.query or parts.fragment or "@" in parts.path
            or parts.netloc.count("@") > 1):
        raise unreadable
    return parts


def server_label(url: str) -> str:
    """The store's URL without its password (chdb paths as they are), for pages and logs."""
    if url.startswith("chdb:"):
        return url
    try:
        parts = server_parts(url)
    except InputError:
        return "an unreadable ClickHouse URL"
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    user = f"{urllib.parse.unquote(parts.username)}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{parts.path}"


def default_store_url() -> str | None:
    return os.environ.get("ANALYTICS_STORE") or None


def open_store(url: str):
    if url.startswith("chdb:"):
        path = url.removeprefix("chdb:").removeprefix("//")
        return ChdbStore(path or None)
    if url.startswith(("clickhouse://", "clickhouses://")):
        return HttpStore(url)
    raise InputError("ANALYTICS_STORE is neither a clickhouse://HOST:8123/DATABASE URL nor "
                     "chdb:PATH")


class _Store:
    def execute(self, sql: str) -> None:
        raise NotImplementedError

    def query(self, sql: str) -> pl.DataFrame:
        raise NotImplementedError

    def create_tables(self) -> None:
        self.execute(events_ddl())
        self.execute(rasa_events_ddl())

    def insert_events(self, frame: pl.DataFrame | pl.LazyFrame, table: str = "events",
                      seq_from: int = 0) -> int:
        """Append conformed events; ``seq`` numbers them from ``seq_from`` in the frame's
        order (their order among events of the same microsecond). Rows with an event id
        already stored replace it (ReplacingMergeTree; reads use FINAL)."""
        frame = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
        missing = [c for c in EVENT_SCHEMA if c not in frame.columns]
        if missing:
            raise InputError(f"events to store lack {', '.join(missing)}: conform them first")
        # an event without an id (an outside log) is named by its position in the load:
        # loading the same file again from the start merges into the same rows
        rows = frame.select(list(EVENT_SCHEMA)).with_row_index("seq", offset=seq_from) \
            .with_columns(pl.col("seq").cast(pl.UInt64),
                          pl.col("event_id").fill_null(pl.format("row:{}", pl.col("seq"))))
        self._insert(rows, table)
        return rows.height

    def insert_frame(self, rows: pl.DataFrame, table: str) -> None:
        """Append ``rows`` (columns named as the table's) as they are."""
        self._insert(rows, table)

    def _insert(self, rows: pl.DataFrame, table: str) -> None:
        raise NotImplementedError


class ChdbStore(_Store):
    def __init__(self, path: str | None = None):
        try:
            from chdb import session
        except ModuleNotFoundError:
            raise InputError("chdb is missing: pip install chdb") from None
        if path:
            Path(path).mkdir(parents=True, exist_ok=True)
        self._session = session.Session(path) if path else session.Session()

    def execute(self, sql: str) -> None:
        self._run(sql, "CSV")

    def query(self, sql: str) -> pl.DataFrame:
        return pl.from_arrow(self._run(sql, "ArrowTable"))

    def _run(self, sql: str, fmt: str):
        try:
            return self._session.query(sql, fmt)
        except Exception as exc:  # noqa: BLE001 - chdb raises its own RuntimeError
            raise InputError(f"ClickHouse (chdb): {str(exc).strip().splitlines()[0]}") \
                from None

    def _insert(self, rows: pl.DataFrame, table: str) -> None:
        arrow = rows.to_arrow()  # noqa: F841 - read by the Python() table function
        columns = ", ".join(rows.columns)
        self.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM Python(arrow)")

    def close(self) -> None:
        self._session.close()


class HttpStore(_Store):
    """A ClickHouse server's HTTP interface (POST the query, Arrow back)."""

    def __init__(self, url: str):
        parts = server_parts(url)
        scheme = "https" if parts.scheme == "clickhouses" else "http"
        port = parts.port or (8443 if scheme == "https" else 8123)
        self.endpoint = f"{scheme}://{parts.hostname}:{port}/"
        self.database = parts.path.strip("/") or "default"
        self.user = urllib.parse.unquote(parts.username or "default")
        self.password = (urllib.parse.unquote(parts.password) if parts.password is not None
                         else os.environ.get("CLICKHOUSE_PASSWORD", ""))

    def _post(self, sql: str, body: bytes | None = None, *, fmt: str | None = None) -> bytes:
        params = {"database": self.database}
        if body is not None:
            params["query"] = sql
        request = urllib.request.Request(
            self.endpoint + "?" + urllib.parse.urlencode(params),
            data=body if body is not None else sql.encode(),
            headers={"X-ClickHouse-User": self.user, "X-ClickHouse-Key": self.password,
                     **({"X-ClickHouse-Format": fmt} if fmt else {})}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            if exc.code in (502, 503, 504):
                raise StoreUnreachable(f"ClickHouse at {self.endpoint} is unavailable "
                                       f"(HTTP {exc.code})") from None
            raise InputError(f"ClickHouse at {self.endpoint}: "
                             f"{exc.read().decode(errors='replace').strip()[:300]}") from None
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out,
            # no such host, an answer cut short
            raise StoreUnreachable(f"ClickHouse at {self.endpoint} is unreachable ({exc})") \
                from None

    def execute(self, sql: str) -> None:
        self._post(sql)

    def query(self, sql: str) -> pl.DataFrame:
        return pl.read_ipc_stream(io.BytesIO(self._post(sql, fmt="ArrowStream")))

    def _insert(self, rows: pl.DataFrame, table: str) -> None:
        buffer = io.BytesIO()
        rows.write_parquet(buffer)
        self._post(f"INSERT INTO {table} ({', '.join(rows.columns)}) FORMAT Parquet",
                   buffer.getvalue())
