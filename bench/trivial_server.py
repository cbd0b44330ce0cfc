"""The floor: an aiohttp handler that returns a small JSON body and touches nothing else.

    python bench/trivial_server.py PORT [WORKERS]

With WORKERS > 1, that many processes share the port (SO_REUSEPORT), like storefront_api's
``serve --workers``, so the two are compared on equal terms.
"""

import multiprocessing
import sys

from aiohttp import web


async def hello(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def serve(port: int, reuse_port: bool) -> None:
    app = web.Application()
    app.router.add_get("/hello", hello)
    app.router.add_post("/hello", hello)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None,
                reuse_port=reuse_port)


if __name__ == "__main__":
    port, workers = int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1
    if workers == 1:
        serve(port, False)
    else:
        procs = [multiprocessing.Process(target=serve, args=(port, True), daemon=True)
                 for _ in range(workers)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
