"""A hand-rolled launcher: uvicorn in a non-main thread, so no SIGTERM handler is installed.

`python -m tests.apps.edge_nohandler PORT` serves `/gates` on the public port, so the lifecycle
gate of a process without a handler can be read while it serves.
"""

from __future__ import annotations

import sys
import threading

import uvicorn
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from hardened import EndpointsConfig, Service


async def hello(request: Request) -> Response:
    return PlainTextResponse("hello")


app = Service(
    "no-handler",
    routes=[Route("/hello", hello)],
    endpoints=EndpointsConfig(admin_on_public_port=True),
)


def main() -> None:
    config = uvicorn.Config(app, port=int(sys.argv[1]), lifespan="on", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="server")
    thread.start()
    thread.join()


if __name__ == "__main__":
    main()
