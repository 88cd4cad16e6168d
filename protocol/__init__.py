"""flip-sync wire protocol — sans-IO.

No sockets, serial ports, files, clocks or randomness of its own: callers pass ``now`` (Unix
seconds) and an ``rng`` (``Callable[[int], bytes]``). Everything else in flip-sync is I/O around
this package. See docs/wire-format.md.
"""

PROTOCOL_VERSION = 1
