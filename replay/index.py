"""The store's SQLite index: fast listing, and a cache of input hashes.

The capture folders are the source of truth; the index is a cache that `listing`
repairs whenever it disagrees with them, so deleting `index.sqlite` loses nothing.
The hash cache lets a second capture of unchanged inputs skip reading them: an entry
is trusted only while the file's device, inode, size, mtime and ctime are unchanged
(a rewrite can restore the mtime, not the ctime) and the blob it names is still in
the store. The listing cache goes one step further for
input folders: a folder whose files all stat as before gets its file records back
whole, encoded already (see `replay.capture.files.Copier.recalled`). The environment cache
keeps the installed distributions a capture found, and their lockfiles' blobs, under
the fingerprint of the folders they were read from (`replay.lockfile.fingerprint`).
"""

from __future__ import annotations

import os
from _thread import _local

try:  # the module the `sqlite3` package wraps, without its date adapters, whose
    # `datetime` import costs a failing job's capture ~4 ms
    import _sqlite3 as sqlite3
except ImportError:  # pragma: no cover - an interpreter that has only the package
    import sqlite3  # type: ignore[no-redef]

from replay import document

TYPE_CHECKING = False  # typing costs a failing job's capture ~5 ms
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from replay.store import LocalStore

COLUMNS = ("id", "step", "created", "status", "kind", "error", "exit_code", "host", "source_hash")

_SCHEMA = """
DROP TABLE IF EXISTS hashcache;
DROP TABLE IF EXISTS listingcache;
DROP TABLE IF EXISTS listings;
DROP TABLE IF EXISTS environments;
CREATE TABLE IF NOT EXISTS captures (
    id TEXT PRIMARY KEY, step TEXT, created TEXT, status TEXT, kind TEXT,
    error TEXT, exit_code INTEGER, host TEXT, source_hash TEXT
);
CREATE INDEX IF NOT EXISTS captures_created ON captures(created);
CREATE TABLE IF NOT EXISTS filehashes (
    path TEXT PRIMARY KEY, dev INTEGER, ino INTEGER, size INTEGER, mtime_ns INTEGER,
    ctime_ns INTEGER, sha256 TEXT
);
CREATE TABLE IF NOT EXISTS listings (
    path TEXT PRIMARY KEY, fingerprint TEXT, files TEXT, files_digest TEXT, blobs TEXT,
    size INTEGER, largest INTEGER, held_in TEXT
);
CREATE TABLE IF NOT EXISTS environments (
    fingerprint TEXT PRIMARY KEY, distributions TEXT, pylock TEXT, requirements TEXT
);
"""
"""Run when `user_version` is behind or a table is missing; the caches whose rows an
older version wrote differently are dropped. Version 1 dropped those of earlier versions
(hashcache trusted a file whose mtime had been put back); version 2 added the
environment cache; version 3 digests listings and environments with BLAKE2b
(`replay.hashing.digest_bytes`); version 4 remembers which packs hold a listing's blobs."""
_VERSION = 4
_TABLES = frozenset({"captures", "filehashes", "listings", "environments"})
_ENVIRONMENTS_KEPT = 16


class Index:
    def __init__(self, path: str) -> None:
        self.path = path
        self._local = _local()  # SQLite connections belong to one thread each

    @property
    def _conn(self) -> sqlite3.Connection | None:
        return getattr(self._local, "conn", None)

    def _db(self) -> sqlite3.Connection:
        conn = self._conn
        if conn is None:
            try:
                conn = self._open()
            except sqlite3.DatabaseError as exc:
                self._set_aside(exc)
                conn = self._open()
            self._local.conn = conn
        return conn

    def _set_aside(self, exc: sqlite3.DatabaseError) -> None:
        """A damaged index (not a database, a malformed page) is only a cache: it is
        renamed `index.sqlite.damaged` and a new one is built from the manifests. A busy
        or unopenable one (`OperationalError`) is someone else's problem to report."""
        if isinstance(exc, sqlite3.OperationalError):
            raise exc
        self.close()
        try:
            os.replace(self.path, f"{self.path}.damaged")
        except FileNotFoundError:
            pass
        for suffix in ("-wal", "-shm"):
            try:
                os.unlink(f"{self.path}{suffix}")
            except FileNotFoundError:
                pass

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)  # waits 30 s when busy
        try:
            # The index is a cache rebuilt from the manifests: commits need not reach the
            # disk before returning (each sync costs a capture milliseconds to seconds).
            conn.execute("PRAGMA synchronous=OFF")
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                try:
                    conn.execute("PRAGMA journal_mode=WAL")  # kept in the file from then on
                except sqlite3.OperationalError:
                    pass  # another process holds it; the mode is already set or will be
            # The schema script costs a failing job's capture ~1.5 ms: only when needed.
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if conn.execute("PRAGMA user_version").fetchone()[0] < _VERSION or not _TABLES <= tables:
                conn.executescript(f"{_SCHEMA}PRAGMA user_version = {_VERSION};")
        except BaseException:
            conn.close()
            raise
        return conn

    def close(self) -> None:
        """Close this thread's connection."""
        if self._conn is not None:
            self._conn.close()
            self._local.conn = None

    def add_rows(self, rows: list[dict[str, Any]]) -> None:
        """Record published captures. A failure here loses nothing (listing repairs it)."""
        try:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                f"INSERT OR REPLACE INTO captures VALUES ({','.join('?' * len(COLUMNS))})",
                [tuple(r[c] for c in COLUMNS) for r in rows],
            )
            db.execute("COMMIT")
        except (sqlite3.Error, UnicodeError):  # UnicodeError: a name with undecodable bytes
            self._rollback()

    def _rollback(self) -> None:
        try:
            if self._conn is not None and self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def listing(self, store: LocalStore) -> list[dict[str, Any]]:
        """Every capture's summary, newest first, after reconciling with the folders."""
        return [dict(zip(COLUMNS, row)) for row in self.rows(store)]

    def rows(self, store: LocalStore, columns: Sequence[str] = COLUMNS) -> list[tuple[Any, ...]]:
        """`listing` as tuples of `columns` ("id" first), from one query when the index
        agrees with the folders: the TUI opens stores of 10,000s of captures, where a
        second query or a dict per row would be most of its start-up."""
        if columns[0] != "id" or not set(columns) <= set(COLUMNS):
            raise ValueError(f"columns must start with 'id' and be among {COLUMNS}: {columns}")
        on_disk = set(store.ids())
        db = self._db()
        query = f"SELECT {','.join(columns)} FROM captures ORDER BY created DESC, id"
        try:
            rows = db.execute(query).fetchall()
        except sqlite3.DatabaseError as exc:  # damaged past its header: start again
            self._set_aside(exc)
            db = self._db()
            rows = []
        indexed = {row[0] for row in rows}
        missing = on_disk - indexed
        if missing:
            summaries = []
            for capture_id in missing:
                try:
                    summaries.append(document.summary(store.load_document(capture_id)))
                except Exception:  # an unreadable capture is listed by verify, not here
                    continue
            self.add_rows(summaries)
            rows = db.execute(query).fetchall()
        # A capture published after the folder was listed is indexed but not in `on_disk`:
        # only what is really gone from the folder leaves the index.
        gone = indexed - on_disk
        if gone:
            on_disk |= gone & set(store.ids())
            gone -= on_disk
        if gone:
            db.executemany("DELETE FROM captures WHERE id = ?", [(i,) for i in gone])
        return [row for row in rows if row[0] in on_disk] if gone else rows

    # -- hash cache -------------------------------------------------------------
    def cached_hashes(self, items: list[tuple[str, os.stat_result]]) -> dict[str, str]:
        """Hashes of the files whose device, inode, size, mtime and ctime are as cached."""
        found: dict[str, str] = {}
        stats = dict(items)
        paths = list(stats)
        try:
            db = self._db()
            for start in range(0, len(paths), 500):
                chunk = paths[start : start + 500]
                rows = db.execute(
                    "SELECT path, dev, ino, size, mtime_ns, ctime_ns, sha256 FROM filehashes WHERE path IN "
                    f"({','.join('?' * len(chunk))})",
                    chunk,
                )
                for path, *facts, digest in rows:
                    st = stats[path]
                    if facts == [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]:
                        found[path] = str(digest)
        except (sqlite3.Error, UnicodeError):  # UnicodeError: a name with undecodable bytes
            return {}
        return found

    def cached_listing(self, folder: str) -> tuple[str, str, str, str, int, int, str] | None:
        """The fingerprint `folder` had, and the file records, their digest and the
        blobs (JSON text), total size and largest file remembered for it then, and
        where the blobs were held (JSON text: `Copier.listing`)."""
        try:
            row = self._db().execute(
                "SELECT fingerprint, files, files_digest, blobs, size, largest, held_in FROM listings"
                " WHERE path = ?",
                (folder,),
            ).fetchone()
            if row is None:
                return None
            return (str(row[0]), str(row[1]), str(row[2]), str(row[3]), int(row[4]), int(row[5]),
                    str(row[6]))
        except (sqlite3.Error, TypeError, ValueError):  # a damaged row, or an unstorable name, is a miss
            return None

    def remember(
        self,
        hashes: list[tuple[str, os.stat_result, str]],
        listings: list[tuple[str, str, str, str, str, int, int, str]],
    ) -> None:
        """Remember file hashes and folder listings (the folder, then `cached_listing`'s
        row) in one transaction. A failure loses only the speed of the next capture."""
        if not hashes and not listings:
            return
        try:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT OR REPLACE INTO filehashes VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(p, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, h) for p, st, h in hashes],
            )
            db.executemany("INSERT OR REPLACE INTO listings VALUES (?, ?, ?, ?, ?, ?, ?, ?)", listings)
            db.execute("COMMIT")
        except (sqlite3.Error, UnicodeError):  # UnicodeError: a name with undecodable bytes
            self._rollback()

    # -- environment cache ------------------------------------------------------
    def cached_environment(self, fingerprint: str) -> tuple[str, str, str] | None:
        """The distributions (JSON text) and the pylock and requirements blobs
        remembered at `fingerprint`."""
        try:
            row = self._db().execute(
                "SELECT distributions, pylock, requirements FROM environments WHERE fingerprint = ?",
                (fingerprint,),
            ).fetchone()
            return (str(row[0]), str(row[1]), str(row[2])) if row else None
        except (sqlite3.Error, TypeError, ValueError):  # a damaged row is a miss
            return None

    def remember_environment(self, fingerprint: str, distributions: str, pylock: str,
                             requirements: str) -> None:
        """Remember an environment (`cached_environment`'s row); the oldest go past a
        few, since every install in the environment makes a new fingerprint."""
        try:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT OR REPLACE INTO environments VALUES (?, ?, ?, ?)",  # as the newest row
                       (fingerprint, distributions, pylock, requirements))
            db.execute("DELETE FROM environments WHERE rowid NOT IN"
                       " (SELECT rowid FROM environments ORDER BY rowid DESC LIMIT ?)",
                       (_ENVIRONMENTS_KEPT,))
            db.execute("COMMIT")
        except sqlite3.Error:  # the fingerprint is a digest, the rest ASCII JSON and hashes
            self._rollback()
