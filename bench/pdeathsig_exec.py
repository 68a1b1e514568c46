"""Exec a command that receives SIGTERM when the benchmark that started it dies.

    python bench/pdeathsig_exec.py <parent pid> <argv...>

``bench_unlock.py`` starts every child (servers, load generators, h2load) through this wrapper,
so even a SIGKILLed benchmark leaves nothing running: ``PR_SET_PDEATHSIG`` survives ``execve``.
Kept free of heavy imports so it adds only a few milliseconds.
"""

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def main() -> None:
    parent, argv = int(sys.argv[1]), sys.argv[2:]
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before prctl took effect
        sys.exit(1)
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main()
