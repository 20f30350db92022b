"""``python -m runyard.lsp``: the Runyard language server over stdio (``--tcp HOST:PORT``
to debug it from a client that connects over a socket).

Over stdio it first tries this environment's warm server (`warm.py`), which forks a
server that has everything imported; without one it starts the plain way, then starts
a warm server for the next start."""

from __future__ import annotations

import argparse
import logging
import sys

from runyard.lsp import warm as warm_start


def main(argv: list[str] | None = None, attach: bool = True, prepare: bool = True) -> int:
    """The server; `attach`: first through a warm server, `prepare`: after a plain start,
    start a warm server for the next."""
    if argv is None:
        argv = sys.argv[1:]
    if attach:
        code = warm_start.attach(argv)
        if code is not None:
            return code
    parser = argparse.ArgumentParser(prog="python -m runyard.lsp", description=__doc__)
    parser.add_argument("--stdio", action="store_true", help="talk over stdin/stdout (default)")
    parser.add_argument("--tcp", metavar="HOST:PORT", help="listen on a TCP socket instead")
    parser.add_argument(
        "--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=args.log_level, format="%(name)s: %(message)s")
    host, port = None, 0
    if args.tcp:
        host, _, port_text = args.tcp.rpartition(":")
        if not host or not port_text.isdigit():
            parser.error(f"--tcp expects HOST:PORT, like 127.0.0.1:2087, got {args.tcp!r}")
        port = int(port_text)
    from runyard.lsp import codecache

    generated = codecache.install()  # before lsprotocol's ~550 classes are made
    from runyard.lsp.server import create_server

    server = create_server()
    generated.save()
    if host:
        server.start_tcp(host, port)
    else:
        if prepare:
            warm_start.prepare_next(argv)
        server.start_io()
    return 0


if __name__ == "__main__":
    sys.exit(main())
