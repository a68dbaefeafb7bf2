"""A time limit that holds: work (sympy's) runs in a forked child, killed when time is up."""

from __future__ import annotations

import multiprocessing
import time

from .errors import GradcliError, NoSymbolicForm


def _child(fn, conn):
    try:
        conn.send(("ok", fn()))
    except NoSymbolicForm as err:
        conn.send(("skip", err.message))
    except GradcliError as err:
        conn.send(("error", err.message))
    except Exception as err:  # any sympy failure becomes a reason to skip, not a crash
        conn.send(("error", f"{type(err).__name__}: {err}"))
    finally:
        conn.close()


def with_time_limit(fn, timeout: float, meanwhile=None, limit: float | None = None):
    """fn() in a forked child: (result, None), or (None, why it did not finish).

    `meanwhile()`, if given, runs in this process while the child works; the limit counts
    from the child's start. `limit`: the figure to name (default: timeout)."""
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(fn, send), daemon=True)
    start = time.monotonic()
    proc.start()
    send.close()
    try:
        if meanwhile is not None:
            meanwhile()
        if not recv.poll(max(0.0, timeout - (time.monotonic() - start))):
            return (
                None,
                f"sympy took longer than the {timeout if limit is None else limit:g} "
                "s limit (--check-timeout)",
            )
        try:
            status, payload = recv.recv()
        except EOFError:
            return None, "the symbolic computation stopped unexpectedly"
        if status == "ok":
            return payload, None
        return None, payload if status == "skip" else f"sympy failed: {payload}"
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        recv.close()
