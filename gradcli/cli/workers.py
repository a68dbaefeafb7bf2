"""Tasks done in forked worker processes, their outcomes given back in the tasks' order.

A batch of NDJSON spends its time reading, evaluating and formatting chunks, each on its
own. `ordered(work, tasks, jobs)` forks `jobs` workers once a second task exists (they
inherit the compiled program and every import: nothing is parsed or loaded again), hands
them the tasks round robin, and yields `work(task)` for each task in order. A worker has
one task at a time and the next is sent as soon as its outcome is in, so the workers
compute while the caller writes. With one task, one job, or no `os.fork` (Windows), the
tasks are done here, one after the other.

An exception raised by `work` in a worker is raised here, in its place among the
outcomes; a worker that dies (killed, out of memory) is an InternalError. Leaving the
block (the end, an error, a closed pipe, Ctrl-C) ends every worker.
"""

from __future__ import annotations

import mmap
import os
import pickle
import signal
import socket
import struct
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from itertools import chain, count, islice
from typing import Any

from ..errors import InternalError

Bytes = bytes | memoryview


#: The most workers a batch takes by default: past a few, the parent (reading the input,
#: writing the output) is the bottleneck, and each worker costs its memory.
MOST = 8


def usable_cores() -> int:
    """The cores this process may run on (its affinity where the system says it), at most
    `MOST`: the default number of workers."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return min(cores, MOST)


@contextmanager
def ordered(
    work: Callable[[Any], tuple[Bytes, Any]],
    tasks: Iterable,
    jobs: int,
    here: Callable[[Any], tuple[Bytes, Any]] | None = None,
) -> Iterator[Iterator]:
    """`work(task)` for each task, in order; in `jobs` forked workers when there are two
    tasks or more (see the module's docstring), else `here(task)` (default: `work`) in this
    process. A task and an outcome are each (bytes, anything small): the bytes travel as
    they are (a task's as a view, valid during `work`), the rest pickled."""
    tasks = iter(tasks)
    head = list(islice(tasks, 2))
    if jobs < 2 or len(head) < 2 or not hasattr(os, "fork"):
        yield map(here or work, chain(head, tasks))
        return
    workers = _Workers(work, jobs)
    try:
        yield workers.outcomes(chain(head, tasks))
    finally:
        workers.end()


#: The bytes of an outcome that travel through shared memory (more go down the socket).
SLOT = 8 * 2**20


class _Workers:
    """The forked workers, the parent's end of each one's socket, and each one's two
    slots of shared memory: the bytes of its outcomes, alternately (the worker fills one
    while the parent writes out the other)."""

    def __init__(self, work: Callable[[Any], tuple[Bytes, Any]], jobs: int):
        self.pids: list[int] = []
        self.ends: list[socket.socket] = []
        self.slots = [(mmap.mmap(-1, SLOT), mmap.mmap(-1, SLOT)) for _ in range(jobs)]
        self.buffer = bytearray()
        sys.stdout.flush()  # (what a worker inherits unwritten, it would never write)
        sys.stderr.flush()
        for k in range(jobs):
            mine, theirs = socket.socketpair()
            with warnings.catch_warnings():  # (3.12+: a thread of NumPy's BLAS is alive;
                warnings.simplefilter("ignore", DeprecationWarning)  # it is fork-safe)
                pid = os.fork()
            if pid == 0:  # the worker: it never returns into the caller's code
                mine.close()
                for other in self.ends:
                    other.close()
                _serve(work, theirs, self.slots[k])
            theirs.close()
            self.pids.append(pid)
            self.ends.append(mine)

    def outcomes(self, tasks: Iterator) -> Iterator[tuple[memoryview, Any]]:
        """Each task's outcome, in order; a worker is given its next task as soon as it
        has handed over its last outcome. The bytes are a view valid until the next one."""
        jobs, sent, done = len(self.ends), 0, 0
        for payload, rest in islice(tasks, jobs):
            _send(self.ends[sent], rest, payload)
            sent += 1
        while done < sent:
            k = done % jobs
            try:
                (failed, outcome, held), payload, self.buffer = _receive(self.ends[k], self.buffer)
            except (EOFError, OSError):
                raise InternalError(
                    f"a worker process of the batch ended unexpectedly{self._why(k)}"
                ) from None
            if held is not None:  # in the slot of this task (the worker's next is the other)
                payload = memoryview(self.slots[k][done // jobs % 2])[:held]
            task = next(tasks, None)
            if task is not None:
                _send(self.ends[k], task[1], task[0])
                sent += 1
            done += 1
            if failed:
                raise outcome
            yield payload, outcome
            payload.release()

    def _why(self, k: int) -> str:
        """How worker `k` ended, for the message (when it has)."""
        with suppress(ChildProcessError, OSError):
            pid, status = os.waitpid(self.pids[k], os.WNOHANG)
            if pid and os.WIFSIGNALED(status):
                return f" (signal {signal.Signals(os.WTERMSIG(status)).name})"
        return ""

    def end(self) -> None:
        """Close the sockets and end the workers (one still busy is killed)."""
        for end in self.ends:
            end.close()
        for pid in self.pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with suppress(ChildProcessError):
                os.waitpid(pid, 0)
        for pair in self.slots:
            for slot in pair:
                with suppress(BufferError):  # (a view still held: it goes with the view)
                    slot.close()


def _serve(
    work: Callable[[Any], tuple[Bytes, Any]], end: socket.socket, slots: tuple[mmap.mmap, ...]
) -> None:
    """A worker's life: for each task received, (False, outcome) or (True, exception), and
    the outcome's bytes in its next slot (or down the socket, when they do not fit), until
    the socket closes; then it exits at once (nothing of the parent's is cleaned up twice)."""
    code = 0
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    buffer = bytearray()
    try:
        for turn in count():
            try:
                rest, given, buffer = _receive(end, buffer)
            except EOFError:
                break
            payload: Bytes = b""
            try:
                payload, outcome = work((given, rest))
                failed = False
            except Exception as e:
                failed, outcome = True, e if _picklable(e) else InternalError.of(e)
            held = None
            if len(payload) <= SLOT:
                slots[turn % 2][: len(payload)] = payload
                held, payload = len(payload), b""
            _send(end, (failed, outcome, held), payload)
    except BaseException:
        code = 1
    finally:
        os._exit(code)


_HEADER = struct.Struct("!QQ")  # the lengths of the pickled object and of the bytes


def _send(end: socket.socket, obj: Any, payload: Bytes = b"") -> None:
    """An object (pickled) and bytes (as they are) down a socket."""
    message = pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)
    end.sendall(_HEADER.pack(len(message), len(payload)) + message)
    if payload:
        end.sendall(payload)


def _receive(end: socket.socket, buffer: bytearray) -> tuple[Any, memoryview, bytearray]:
    """What `_send` sent: the object, and the bytes as a view of `buffer`, reused (a new
    one, returned last, when the bytes do not fit: a view of the old may still be held)."""
    size, length = _HEADER.unpack(_exactly(end, bytearray(_HEADER.size)))
    obj = pickle.loads(_exactly(end, bytearray(size)))
    if len(buffer) < length:
        buffer = bytearray(length)
    return obj, _exactly(end, memoryview(buffer)[:length]), buffer


def _exactly(end: socket.socket, into):
    """`into` filled from the socket; EOFError when it closes first (nothing, or midway)."""
    view, got = memoryview(into), 0
    while got < len(view):
        n = end.recv_into(view[got:])
        if n == 0:
            raise EOFError
        got += n
    return into


def _picklable(e: Exception) -> bool:
    """Whether `e` survives the trip to the parent."""
    try:
        pickle.loads(pickle.dumps(e))
    except Exception:
        return False
    return True
