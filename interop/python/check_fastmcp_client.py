"""Ferry against the FastMCP 4 client (PyPI `fastmcp` 4.1.6 with `fastmcp-tasks` 4.1.4,
pinned in requirements-fastmcp4.txt).

Usage: check_fastmcp_client.py URL             every check; the server must accept a missing
                                                Mcp-Name (`ferry serve --accept-missing-routing-headers`)
       check_fastmcp_client.py URL --refused   a default server: the client's tasks fail with
                                                -32020, because it sends no Mcp-Name on tasks/get

Prints one line per check and a last line "N passed, M failed".
"""
import asyncio, sys
import fastmcp_tasks  # noqa: F401  (importing it turns on the client's tasks extension)
from fastmcp import Client
from fastmcp.exceptions import ToolError
from fastmcp_tasks import call_tool_task
from mcp.shared.exceptions import MCPError

url = sys.argv[1]
results = []
TOOLS = sorted(["add", "sleep", "fail", "progress", "must_task", "no_task"])


def check(name, ok, detail=""):
    results.append(bool(ok))
    print(("PASS " if ok else "FAIL ") + name + (f"  {detail}" if not ok else ""))


def text(result):
    return result.content[0].text if result.content else None


async def raises(call, kind):
    try:
        return f"no error: {await call}"
    except kind as e:
        return e


async def modern():
    """2026-07-28 (the client's default negotiation) with the tasks extension."""
    tag = "[2026-07-28]"
    async with Client(url) as c:
        names = sorted(t.name for t in await c.list_tools())
        check(f"{tag} tools/list", names == TOOLS, names)
        r = await c.call_tool("add", {"a": 2, "b": 40})
        check(f"{tag} add", text(r) == "42", r)
        # Optional tools may run as tasks for a client with the extension (call_tool then polls
        # tasks/get); one that ends at once is answered directly by a default Ferry (quick answers).
        r = await c.call_tool("fail", {"message": "boom"}, raise_on_error=False)
        check(f"{tag} fail (task) is a tool error", r.is_error and text(r) == "boom", r)
        r = await c.call_tool("must_task", {"x": 21})
        check(f"{tag} must_task through tasks/get", text(r) == "42", r)
        task = await call_tool_task(c, "sleep", {"ms": 50})
        check(f"{tag} call_tool_task creates a task", bool(task.task_id), task)
        r = await task.result()
        check(f"{tag} task result", text(r) == "slept 50", r)
        status = await task.status()
        check(f"{tag} task status completed", status.status == "completed", status)
        task = await call_tool_task(c, "progress", {"steps": 3, "delay_ms": 20})
        r = await task.result()
        check(f"{tag} progress as a task", text(r) == "done 3", r)
        task = await call_tool_task(c, "sleep", {"ms": 60000})
        await task.cancel()
        status = await task.status()
        check(f"{tag} tasks/cancel -> cancelled", status.status == "cancelled", status)
        e = await raises(task.result(), ToolError)
        check(f"{tag} a cancelled task's result is an error", isinstance(e, ToolError), e)
        e = await raises(call_tool_task(c, "no_task", {"x": 1}), ToolError)
        check(f"{tag} a forbidden tool runs without a task", isinstance(e, ToolError), e)
        p = await c.get_prompt("greet", {"name": "Ada"})
        check(f"{tag} prompt", "Ada" in p.messages[0].content.text, p)
        rr = await c.read_resource("ferry://demo/greeting/Ada")
        check(f"{tag} template read", rr[0].text == "Hello, Ada!", rr)
        e = await raises(c.call_tool("nope", {}), Exception)
        check(f"{tag} unknown tool is an error", isinstance(e, Exception), e)


async def legacy():
    """2025-11-25 (initialize handshake): the client has no tasks in this era."""
    tag = "[2025-11-25]"
    progress = []

    async def on_progress(p, total, message):
        progress.append((p, total, message))

    async with Client(url, mode="legacy", progress_handler=on_progress) as c:
        names = sorted(t.name for t in await c.list_tools())
        check(f"{tag} tools/list", names == TOOLS, names)
        r = await c.call_tool("add", {"a": 2, "b": 40})
        check(f"{tag} add", text(r) == "42", r)
        r = await c.call_tool("progress", {"steps": 3, "delay_ms": 20})
        check(f"{tag} progress result", text(r) == "done 3", r)
        check(f"{tag} progress notifications", len(progress) == 3 and progress[-1][0] == 3, progress)
        r = await c.call_tool("sleep", {"ms": 10})
        check(f"{tag} optional tool without a task", text(r) == "slept 10", r)
        p = await c.get_prompt("greet", {"name": "Ada"})
        check(f"{tag} prompt", "Ada" in p.messages[0].content.text, p)


async def refused():
    """A default Ferry: the missing Mcp-Name on tasks/get is HTTP 400 with -32020."""
    async with Client(url) as c:
        e = await raises(c.call_tool("must_task", {"x": 21}), MCPError)
        ok = isinstance(e, MCPError) and e.code == -32020 and "Mcp-Name" in str(e) and "tasks/get" in str(e)
        check("[2026-07-28] tasks/get without Mcp-Name is refused by default", ok, repr(e))


async def main():
    runs = [refused] if "--refused" in sys.argv else [modern, legacy]
    for run in runs:
        try:
            await run()
        except Exception as e:
            import traceback
            traceback.print_exc()
            check(f"[{run.__name__}] session", False, repr(e))
    print(f"{sum(results)} passed, {len(results) - sum(results)} failed")


asyncio.run(main())
