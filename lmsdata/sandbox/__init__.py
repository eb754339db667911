"""A faithful local Clever API v3.1 for the demo, the tests and the benchmarks (see docs/sandbox.md)."""

from lmsdata.sandbox.core import Sandbox, serve
from lmsdata.sandbox.server import Server

__all__ = ["Sandbox", "Server", "serve"]
