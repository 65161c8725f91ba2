"""Child processes that start without the parent's state but not from scratch: a fork server.

Spawning a process imports torch, scipy and dabench anew (2-3 s each); forking the parent copies whatever
state it holds (eSpeak's synthesizer, torch's thread pools). A fork server is a clean process that imports
the named modules once and forks each child from itself. It is one per process, started on first use with
the modules named so far: every caller adds its own, and one that needs the server warm for several callers
names them all first (the test session does).
"""
from __future__ import annotations

import multiprocessing

# What a process that trains imports: dabench's training code, and torch._dynamo, which torch imports at the
# first optimizer a process builds (1.5-2.5 s each when not preloaded).
TRAINING_PRELOAD = ["dabench.run", "torch._dynamo"]
_PRELOAD: set[str] = set()


def fresh_process_context(preload: list[str]):
    """The multiprocessing context for children that start clean: a fork server that preloads `preload` (with
    what earlier callers named) where the platform has one (Linux, macOS), else spawn."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    _PRELOAD.update(preload)
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(sorted(_PRELOAD))
    return context
