"""A FastMCP server with background tasks: a foreign peer for ferry-client's tests.

Usage: fastmcp_server.py PORT

Runs on whichever FastMCP its virtualenv holds (see run.sh --env):
- FastMCP 3.4.11 (requirements-fastmcp3.txt): tasks of protocol 2025-11-25 (SEP-1686, `params.task`),
  run by Docket's in-memory backend;
- FastMCP 4.1.x with fastmcp-tasks 4.1.4 (requirements-fastmcp4.txt): the 2026-07-28 tasks extension
  `io.modelcontextprotocol/tasks` (SEP-2663), also on Docket's in-memory backend.

Prints "listening on URL" on stderr once it accepts connections.
"""
import asyncio, socket, sys, threading, time
from datetime import timedelta
import fastmcp
from fastmcp import Context, FastMCP
from fastmcp.dependencies import Progress

MAJOR = int(fastmcp.__version__.split(".")[0])
mcp = FastMCP(f"fastmcp-{MAJOR}-peer")
if MAJOR >= 4:
    from fastmcp.utilities.tasks import TaskConfig
    from fastmcp_tasks import TasksExtension

    mcp.add_extension(TasksExtension(url="memory://"))
else:
    from fastmcp.server.tasks import TaskConfig

# Task optional, polled every 100 ms (the default pollInterval is 5 s, which would make
# every followed task take 5 s).
TASK = TaskConfig(mode="optional", poll_interval=timedelta(milliseconds=100))


@mcp.tool()
def add(a: int, b: int) -> int:
    """Add two integers (never a task)."""
    return a + b


@mcp.tool(task=TASK)
async def slow_add(a: int, b: int, ms: int = 0) -> int:
    """Add two integers after `ms` milliseconds (task optional)."""
    await asyncio.sleep(ms / 1000)
    return a + b


@mcp.tool(task=TASK)
async def steps(count: int, progress: Progress = Progress()) -> str:
    """Count `count` steps, reporting each as progress (task optional)."""
    await progress.set_total(count)
    for i in range(1, count + 1):
        await asyncio.sleep(0.1)
        await progress.set_message(f"step {i}/{count}")
        await progress.increment()
    return f"counted {count}"


@mcp.tool()
async def report(count: int, ctx: Context) -> str:
    """Count `count` steps with progress notifications (never a task)."""
    for i in range(1, count + 1):
        await ctx.report_progress(i, count, f"step {i}/{count}")
    return f"reported {count}"


@mcp.tool(task=TASK)
async def sleep(ms: int) -> str:
    """Sleep `ms` milliseconds (task optional)."""
    await asyncio.sleep(ms / 1000)
    return f"slept {ms}"


@mcp.tool(task=TASK)
async def fail(message: str) -> str:
    """Fail with a tool error (task optional)."""
    raise fastmcp.exceptions.ToolError(message)


@mcp.prompt()
def greet(name: str) -> str:
    """Greet someone."""
    return f"Please greet {name}."


def announce(port):
    """Say where the server is once it accepts connections."""
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    print(f"listening on http://127.0.0.1:{port}/mcp", file=sys.stderr, flush=True)


if __name__ == "__main__":
    port = int(sys.argv[1])
    threading.Thread(target=announce, args=(port,), daemon=True).start()
    # uvicorn closes idle connections after 5 s by default, the same as FastMCP's default
    # pollInterval: a poll could meet a connection closing under it (see INTEROP.md).
    uvicorn = {"timeout_keep_alive": 60}
    mcp.run("http", host="127.0.0.1", port=port, show_banner=False, log_level="warning", uvicorn_config=uvicorn)
