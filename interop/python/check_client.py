"""Ferry against the official Python SDK client (PyPI `mcp` 2.3.0).

Usage: check_client.py URL [FERRY_BINARY]

Runs the same checks over Streamable HTTP at URL and, given the binary, over stdio
(`ferry serve --stdio`), once with the initialize handshake ("legacy", 2025-11-25) and
once with the SDK's default negotiation ("auto", which picks 2026-07-28 on Ferry).
Prints one line per check and a last line "N passed, M failed".
"""
import asyncio, sys
from mcp import Client
from mcp_types import PromptReference, ResourceTemplateReference

url = sys.argv[1]
results = []

def check(name, ok, detail=""):
    results.append(ok)
    print(("PASS " if ok else "FAIL ") + name + (f"  {detail}" if not ok else ""))

async def run(mode, target=None, label=None):
    logs, progress = [], []
    async def on_log(params):
        logs.append(params)
    async with Client(target or url, mode=mode, logging_callback=on_log, log_level="debug") as c:
        tag = f"[{label or mode}]"
        tools = await c.list_tools()
        names = sorted(t.name for t in tools.tools)
        check(f"{tag} tools/list", names == sorted(["add", "sleep", "fail", "progress", "must_task", "no_task"]), names)
        r = await c.call_tool("add", {"a": 2, "b": 40})
        check(f"{tag} add", r.content[0].text == "42", r)
        r = await c.call_tool("fail", {"message": "boom"})
        check(f"{tag} fail is a tool error", r.is_error and r.content[0].text == "boom", r)
        async def on_progress(p, total, message):
            progress.append((p, total, message))
        r = await c.call_tool("progress", {"steps": 3, "delay_ms": 50}, progress_callback=on_progress)
        check(f"{tag} progress result", r.content[0].text == "done 3", r)
        check(f"{tag} progress notifications", len(progress) == 3 and progress[-1][0] == 3, progress)
        r = await c.call_tool("no_task", {"x": 21})
        check(f"{tag} no_task", r.content[0].text == "42", r)
        p = await c.get_prompt("greet", {"name": "Ada"})
        check(f"{tag} prompt", "Ada" in p.messages[0].content.text, p)
        rr = await c.read_resource("ferry://demo/greeting/Ada")
        check(f"{tag} template read", rr.contents[0].text == "Hello, Ada!", rr)
        comp = await c.complete(PromptReference(type="ref/prompt", name="greet"), {"name": "name", "value": "Gr"})
        check(f"{tag} completion (prompt)", comp.completion.values == ["Grace", "Grete"], comp)
        comp = await c.complete(ResourceTemplateReference(type="ref/resource", uri="ferry://demo/greeting/{name}"),
                                {"name": "name", "value": "a"})
        check(f"{tag} completion (template)", comp.completion.values == ["Ada", "Alan"], comp)
        try:
            await c.call_tool("nope", {})
            check(f"{tag} unknown tool is an error", False, "no error")
        except Exception as e:
            check(f"{tag} unknown tool is an error", True)

async def main():
    from mcp.client.stdio import StdioServerParameters
    stdio = StdioServerParameters(command=sys.argv[2], args=["serve", "--stdio"]) if len(sys.argv) > 2 else None
    runs = [("legacy", None, "http legacy"), ("auto", None, "http auto")]
    if stdio:
        runs += [("legacy", stdio, "stdio legacy"), ("auto", stdio, "stdio auto")]
    for mode, target, label in runs:
        try:
            await run(mode, target, label)
        except Exception as e:
            import traceback; traceback.print_exc()
            check(f"[{label}] session", False, repr(e))
    print(f"{sum(results)} passed, {len(results) - sum(results)} failed")

asyncio.run(main())
