"""Rasa's Redis lock store, with every change to a lock made atomically.

With more than one Rasa replica, the lock store is what makes one conversation's messages
be handled one at a time. Rasa 3.6's RedisLockStore changes a conversation's lock by reading
it, changing it in Python and writing it back. Two replicas that receive a message of the
same conversation at the same moment both read "no lock", both write a lock holding their
own ticket number 0, and both go ahead: each builds its turn on the same conversation, and
the second save leaves out the first one's turn (seen here: one of two simultaneous
messages was lost in most runs of tests/e2e/test_production_topology.py). The
same read-modify-write race can drop a waiting replica's ticket when another finishes.

This subclass makes each change (issue a ticket, drop expired ones, finish serving, delete
the lock when nobody waits) one Redis transaction: WATCH the key, read, change, MULTI/EXEC,
and start again if another replica wrote in between. The lock's format, keys and waiting
are Rasa's own.

Configure it in the endpoints as ``type: bot.lock_store.AtomicRedisLockStore`` with the
Redis lock store's own settings (url, port, password, db, key_prefix).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Callable, Optional, Text, Tuple, TypeVar

import redis
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

Result = TypeVar("Result")


class AtomicRedisLockStore(RedisLockStore):
    """RedisLockStore whose lock changes are Redis transactions."""

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None,
                 **kwargs: Any) -> None:
        if endpoint_config is not None:  # how Rasa builds a lock store named by its class
            kwargs = {"host": endpoint_config.url, **endpoint_config.kwargs, **kwargs}
        super().__init__(**kwargs)

    def _change(self, conversation_id: Text,
                change: Callable[[Optional[TicketLock]],
                                 Tuple[Optional[TicketLock], Result]]) -> Result:
        """Apply ``change`` to the stored lock (None: there is none) in one transaction;
        the lock it returns is stored (None: deleted)."""
        key = self.key_prefix + conversation_id
        with self.red.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    stored = pipe.get(key)
                    lock = TicketLock.from_dict(json.loads(stored)) if stored else None
                    lock, result = change(lock)
                    pipe.multi()
                    if lock is None:
                        pipe.delete(key)
                    else:
                        pipe.set(key, lock.dumps())
                    pipe.execute()
                    return result
                except redis.WatchError:
                    continue  # another replica changed the lock: read it again

    def issue_ticket(self, conversation_id: Text,
                     lock_lifetime: float = LOCK_LIFETIME) -> int:
        def take_a_ticket(lock: Optional[TicketLock]) -> Tuple[TicketLock, int]:
            lock = lock or self.create_lock(conversation_id)
            return lock, lock.issue_ticket(lock_lifetime)

        try:
            return self._change(conversation_id, take_a_ticket)
        except redis.RedisError as error:
            raise LockError(f"Error while acquiring lock. Error:\n{error}") from error

    def update_lock(self, conversation_id: Text) -> None:
        def drop_expired(lock: Optional[TicketLock]) -> Tuple[Optional[TicketLock], None]:
            if lock is not None:
                lock.remove_expired_tickets()
            return lock, None

        self._change(conversation_id, drop_expired)

    def finish_serving(self, conversation_id: Text, ticket_number: int) -> None:
        def done(lock: Optional[TicketLock]) -> Tuple[Optional[TicketLock], None]:
            if lock is not None:
                lock.remove_ticket_for(ticket_number)
            return lock, None

        self._change(conversation_id, done)

    def cleanup(self, conversation_id: Text, ticket_number: int) -> None:
        """Finish serving and, if nobody waits, delete the lock: both at once, so that a
        ticket issued meanwhile is never deleted with it."""
        def done_and_tidy(lock: Optional[TicketLock]) -> Tuple[Optional[TicketLock], bool]:
            if lock is None:
                return None, False
            lock.remove_ticket_for(ticket_number)
            if lock.is_someone_waiting():
                return lock, False
            return None, True

        deleted = self._change(conversation_id, done_and_tidy)
        self._log_deletion(conversation_id, deleted)
