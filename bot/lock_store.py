"""Rasa's Redis lock store, with every change to a lock made atomically, in one round trip.

With more than one Rasa replica, the lock store is what makes one conversation's messages
be handled one at a time. Rasa 3.6's RedisLockStore changes a conversation's lock by reading
it, changing it in Python and writing it back. Two replicas that receive a message of the
same conversation at the same moment both read "no lock", both write a lock holding their
own ticket number 0, and both go ahead: each builds its turn on the same conversation, and
the second save leaves out the first one's turn (seen here: one of two simultaneous
messages was lost in most runs of tests/e2e/test_production_topology.py). The
same read-modify-write race can drop a waiting replica's ticket when another finishes.

This subclass makes each change (issue a ticket, drop expired ones, finish serving, delete
the lock when nobody waits) one Lua script that Redis runs atomically: one round trip per
change, where a WATCH/MULTI/EXEC transaction took three (plus a read to see whether the
ticket is served). A turn takes the lock and gives it back in two round trips; a ticket
served at once is not read again. The lock's format, keys and waiting are Rasa's own (a
replica with Rasa's plain store reads what this one writes, and the other way round), and
expiry is judged by the replica's clock, as Rasa does.

Configure it in the endpoints as ``type: bot.lock_store.AtomicRedisLockStore`` with the
Redis lock store's own settings (url, port, password, db, key_prefix).
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncGenerator, Optional, Text

import redis
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

# KEYS[1]: the lock. ARGV: the change (issue, expire, finish, cleanup), the replica's time,
# the conversation id, and the ticket's lifetime (issue) or number (finish, cleanup).
# Rasa's format: {"conversation_id": ..., "tickets": ["{\"number\": 0, \"expires\": ...}"]}
CHANGE_LOCK = """
local change, now, conversation = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local raw = redis.call('GET', KEYS[1])
if not raw and change ~= 'issue' then
  return 0
end
local tickets = {}
if raw then
  local lock = cjson.decode(raw)
  conversation = lock.conversation_id or conversation
  if type(lock.tickets) == 'table' then
    for _, text in ipairs(lock.tickets) do
      local ticket = cjson.decode(text)
      if ticket.expires >= now then  -- Rasa: expired when now > expires
        table.insert(tickets, ticket)
      end
    end
  end
end
if change == 'issue' then
  local last = -1
  if #tickets > 0 then last = tickets[#tickets].number end
  table.insert(tickets, {number = last + 1, expires = now + tonumber(ARGV[4])})
elseif change == 'finish' or change == 'cleanup' then
  for index, ticket in ipairs(tickets) do
    if ticket.number == tonumber(ARGV[4]) then
      table.remove(tickets, index)
      break
    end
  end
  if change == 'cleanup' and #tickets == 0 then
    redis.call('DEL', KEYS[1])
    return 1
  end
end
local texts = {}
for index, ticket in ipairs(tickets) do
  texts[index] = cjson.encode(string.format('{"number": %d, "expires": %.6f}',
                                            ticket.number, ticket.expires))
end
local stored = '{"conversation_id": ' .. cjson.encode(conversation) .. ', "tickets": [' ..
               table.concat(texts, ', ') .. ']}'
redis.call('SET', KEYS[1], stored)
if change == 'issue' then
  return {tickets[#tickets].number, tickets[1].number, stored}
end
return 0
"""


class AtomicRedisLockStore(RedisLockStore):
    """RedisLockStore whose lock changes are Lua scripts, run atomically by Redis."""

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None,
                 **kwargs: Any) -> None:
        if endpoint_config is not None:  # how Rasa builds a lock store named by its class
            kwargs = {"host": endpoint_config.url, **endpoint_config.kwargs, **kwargs}
        super().__init__(**kwargs)
        self._change_lock = self.red.register_script(CHANGE_LOCK)

    def _change(self, conversation_id: Text, change: Text, argument: float = 0) -> Any:
        return self._change_lock(keys=[self.key_prefix + conversation_id],
                                 args=[change, repr(time.time()), conversation_id, argument])

    def _issue(self, conversation_id: Text, lock_lifetime: float) -> TicketLock:
        """Issue a ticket; (its number, the number served now, the lock)."""
        try:
            ticket, serving, stored = self._change(conversation_id, "issue", lock_lifetime)
        except redis.RedisError as error:
            raise LockError(f"Error while acquiring lock. Error:\n{error}") from error
        return int(ticket), int(serving), TicketLock.from_dict(json.loads(stored))

    def issue_ticket(self, conversation_id: Text,
                     lock_lifetime: float = LOCK_LIFETIME) -> int:
        return self._issue(conversation_id, lock_lifetime)[0]

    def update_lock(self, conversation_id: Text) -> None:
        self._change(conversation_id, "expire")

    def finish_serving(self, conversation_id: Text, ticket_number: int) -> None:
        self._change(conversation_id, "finish", ticket_number)

    def cleanup(self, conversation_id: Text, ticket_number: int) -> None:
        """Finish serving and, if nobody waits, delete the lock: both at once, so that a
        ticket issued meanwhile is never deleted with it."""
        self._log_deletion(conversation_id,
                           bool(self._change(conversation_id, "cleanup", ticket_number)))

    @asynccontextmanager
    async def lock(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME,
                   wait_time_in_seconds: float = 1) -> AsyncGenerator[TicketLock, None]:
        """Rasa's lock, without reading the lock again when the new ticket is served at
        once (nobody else holds the conversation: the usual case)."""
        ticket, serving, lock = self._issue(conversation_id, lock_lifetime)
        try:
            if ticket == serving:
                yield lock
            else:
                yield await self._acquire_lock(conversation_id, ticket, wait_time_in_seconds)
        finally:
            self.cleanup(conversation_id, ticket)
