"""A server on the official Python SDK (mcp 2.3.0): a foreign peer for ferry-client's tests.

Usage: peer_server.py stdio | peer_server.py http PORT

It speaks 2025-11-25 and 2026-07-28 (the SDK negotiates both) and has no tasks.
"""
import sys
from pydantic import BaseModel
from mcp.server.mcpserver import MCPServer, Context
from mcp_types import ElicitRequest, ElicitRequestFormParams, InputRequiredResult

mcp = MCPServer("python-peer")


@mcp.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@mcp.tool()
async def count(steps: int, ctx: Context) -> str:
    """Count to `steps`, reporting progress and logging each step."""
    for i in range(1, steps + 1):
        await ctx.report_progress(i, steps, f"step {i}/{steps}")
        await ctx.info(f"counted {i}")
    return f"counted to {steps}"


class Name(BaseModel):
    name: str


@mcp.tool()
async def ask_name(ctx: Context) -> str | InputRequiredResult:
    """Ask the user for a name (elicitation)."""
    if ctx.protocol_version == "2026-07-28":
        # Stateless: no request to the client; ask with an input_required round instead.
        answer = (ctx.input_responses or {}).get("name")
        if answer is None:
            schema = Name.model_json_schema()
            ask = ElicitRequest(params=ElicitRequestFormParams(message="What is your name?", requestedSchema=schema))
            return InputRequiredResult(inputRequests={"name": ask})
        answer = answer if isinstance(answer, dict) else answer.model_dump(by_alias=True)
        return f"Hello, {answer['content']['name']}!" if answer.get("action") == "accept" else "no name"
    answer = await ctx.elicit("What is your name?", Name)
    if answer.action == "accept":
        return f"Hello, {answer.data.name}!"
    return f"no name ({answer.action})"


@mcp.prompt()
def greet(name: str) -> str:
    """Greet someone."""
    return f"Please greet {name}."


@mcp.resource("peer://greeting/{name}")
def greeting(name: str) -> str:
    """A greeting."""
    return f"Hello, {name}!"


if __name__ == "__main__":
    if sys.argv[1] == "stdio":
        mcp.run("stdio")
    else:
        mcp.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
