"""Serve ``WebResearch-v0`` with OpenEnv and play episodes over its WebSocket client.

The server is openenv-core's own app (``make_app``; deploy it as ``server.py`` with
``app = make_app()`` and ``OPENENV_YAML``); here uvicorn runs it on loopback. Each
episode searches the question and answers with the top hit's title, as text in the
env's action format (swap in your model's turns)::

    python examples/openenv_client.py --episodes 4

The last line is one JSON object: ``episodes``, ``rewards`` and ``seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import threading
import time

import uvicorn
from openenv.core.generic_client import GenericEnvClient

from webresearch.integrations.openenv import make_app


async def episode(url: str, seed: int) -> float:
    async with GenericEnvClient(base_url=url) as client:
        first = await client.reset(seed=seed)
        call = {"name": "web_search", "arguments": {"query": [first.observation["question"]]}}
        found = await client.step({"text": f"<tool_call>{json.dumps(call)}</tool_call>"})
        titles = re.findall(r"^\d+\. (.+?) - ", found.observation["text"], re.M) or ["?"]
        last = await client.step({"text": f"<answer>{titles[0]}</answer>"})
        return float(last.reward or 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=4)
    args = parser.parse_args()

    start = time.monotonic()
    server = uvicorn.Server(uvicorn.Config(make_app(), host="127.0.0.1", port=0,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:  # uvicorn sets it once listening
            if not thread.is_alive() or time.monotonic() - start > 120:
                raise SystemExit("the OpenEnv server did not start")
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]

        async def play() -> list[float]:
            return await asyncio.gather(*(episode(f"http://127.0.0.1:{port}", seed)
                                          for seed in range(args.episodes)))

        rewards = asyncio.run(play())
    finally:
        server.should_exit = True
        thread.join(timeout=60)
    print(json.dumps({"episodes": len(rewards), "rewards": rewards,
                      "seconds": round(time.monotonic() - start, 1)}))


if __name__ == "__main__":
    main()
