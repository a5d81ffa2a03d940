"""One way to run a transaction: commit the block's writes, roll back on any error, and
hand the outbox the ids of the mails the transaction wrote only after the commit."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from booking import outbox
from booking.extensions import db


def commit(outbox_ids: Iterable[int] = (), *, keep_loaded: bool = False) -> None:
    """Commit what the session holds (rolled back and re-raised on failure); then send.

    ``keep_loaded``: the objects keep the values they had at the commit instead of being
    read again on their next use, for a caller that only reports what it just wrote."""
    session = db.session()
    expire_on_commit = session.expire_on_commit
    session.expire_on_commit = not keep_loaded
    try:
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.expire_on_commit = expire_on_commit
    outbox.send_after_commit(list(outbox_ids))


@contextmanager
def committed(*, keep_loaded: bool = False) -> Iterator[list[int]]:
    """The block's writes as one transaction. The block appends the outbox ids it wrote to
    the list it is given; they are sent after the commit, never before."""
    outbox_ids: list[int] = []
    try:
        yield outbox_ids
    except BaseException:
        db.session.rollback()
        raise
    commit(outbox_ids, keep_loaded=keep_loaded)
