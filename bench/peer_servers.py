"""The Python peers of the server table: the same folder served by each framework's own
static-file handler, on 127.0.0.1, one process, no access log.

    python bench/peer_servers.py aiohttp|tornado|starlette ROOT PORT

- aiohttp: `web.static` (its FileResponse uses loop.sendfile).
- tornado: `tornado.web.StaticFileHandler` (reads the file, ETag and Last-Modified).
- starlette: `StaticFiles` under uvicorn, one worker, `--loop asyncio`, with httptools as the
  HTTP parser when it is installed, h11 otherwise (`PARSER` says which, for the table).
Run by bench/run.py from bench/.venv, where it installs them; SIGTERM stops each.
"""

from __future__ import annotations

import sys


def aiohttp(root: str, port: int) -> None:
    from aiohttp import web

    app = web.Application()
    app.add_routes([web.static("/", root)])
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def tornado(root: str, port: int) -> None:
    import asyncio

    import tornado.web

    async def main() -> None:
        app = tornado.web.Application([(r"/(.*)", tornado.web.StaticFileHandler, {"path": root})])
        app.listen(port, "127.0.0.1")
        await asyncio.Event().wait()

    asyncio.run(main())


def parser() -> str:
    """uvicorn's HTTP parser here: httptools if installed, else h11."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return "httptools"


def starlette(root: str, port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    app = Starlette(routes=[Mount("/", app=StaticFiles(directory=root))])
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        workers=1,
        loop="asyncio",
        http=parser(),
        access_log=False,
        log_level="warning",
    )


PEERS = {"aiohttp": aiohttp, "tornado": tornado, "starlette": starlette}

if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "--parser":
        print(parser())
    else:
        name, root, port = sys.argv[1:]
        PEERS[name](root, int(port))
