"""The floor: an aiohttp handler that returns a small JSON body and touches nothing else."""

import sys

from aiohttp import web


async def hello(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


if __name__ == "__main__":
    app = web.Application()
    app.router.add_get("/hello", hello)
    app.router.add_post("/hello", hello)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
