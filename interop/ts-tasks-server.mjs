// A foreign MCP server for interop tests: the TypeScript SDK 1.32.2 Server with its own task store
// (InMemoryTaskStore), exposing the same tools as the Ferry demo. Ferry's client is tested against it.
// Usage: node interop/ts-tasks-server.mjs [port]   (0 = any free port; prints "listening on URL")
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema, McpError, ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { InMemoryTaskStore, InMemoryTaskMessageQueue } from '@modelcontextprotocol/sdk/experimental/tasks/stores/in-memory.js';

const port = Number(process.argv[2] ?? 8765);
const taskStore = new InMemoryTaskStore();
const TRACE = !!process.env.TRACE;

const obj = (props, req) => ({ type: 'object', properties: props, required: req });
const tools = [
  { name: 'add', description: 'a+b', inputSchema: obj({ a: { type: 'integer' }, b: { type: 'integer' } }, ['a', 'b']), execution: { taskSupport: 'optional' } },
  { name: 'sleep', description: 'sleep ms', inputSchema: obj({ ms: { type: 'integer' } }, ['ms']), execution: { taskSupport: 'optional' } },
  { name: 'fail', description: 'tool error', inputSchema: obj({ message: { type: 'string' } }, ['message']), execution: { taskSupport: 'optional' } },
  { name: 'progress', description: 'progress', inputSchema: obj({ steps: { type: 'integer' }, delay_ms: { type: 'integer' } }, ['steps', 'delay_ms']), execution: { taskSupport: 'optional' } },
  { name: 'must_task', description: '2x, task required', inputSchema: obj({ x: { type: 'integer' } }, ['x']), execution: { taskSupport: 'required' } },
  { name: 'no_task', description: '2x, no task', inputSchema: obj({ x: { type: 'integer' } }, ['x']), execution: { taskSupport: 'forbidden' } },
];
const text = (t, isError) => ({ content: [{ type: 'text', text: String(t) }], ...(isError ? { isError: true } : {}) });
const delay = (ms) => new Promise((r) => setTimeout(r, ms));

function makeServer() {
  const server = new Server(
    { name: 'ts-sdk-demo', version: '1.32.2' },
    { capabilities: { tools: {}, tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } } }, taskStore, taskMessageQueue: new InMemoryTaskMessageQueue() },
  );
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools }));
  server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
    const { name, arguments: args = {} } = req.params;
    const tool = tools.find((t) => t.name === name);
    if (!tool) throw new McpError(ErrorCode.InvalidParams, `unknown tool ${name}`);
    const isTask = !!req.params.task;
    const mode = tool.execution.taskSupport;
    if (isTask && mode === 'forbidden') throw new McpError(ErrorCode.MethodNotFound, `tool ${name} does not support tasks`);
    if (!isTask && mode === 'required') throw new McpError(ErrorCode.MethodNotFound, `tool ${name} requires a task`);
    const progressToken = req.params._meta?.progressToken;
    const run = async (isCancelled) => {
      switch (name) {
        case 'add': return text(args.a + args.b);
        case 'must_task': case 'no_task': return text(args.x * 2);
        case 'fail': return text(args.message, true);
        case 'sleep': {
          const end = Date.now() + args.ms;
          while (Date.now() < end) { if (isCancelled()) return null; await delay(20); }
          return text(`slept ${args.ms}`);
        }
        case 'progress': {
          for (let i = 1; i <= args.steps; i++) {
            await delay(args.delay_ms);
            if (progressToken !== undefined)
              await server.notification({ method: 'notifications/progress', params: { progressToken, progress: i, total: args.steps, message: `step ${i}/${args.steps}` } });
          }
          return text(`done ${args.steps}`);
        }
      }
    };
    if (!isTask) return await run(() => false);
    const store = extra.taskStore;
    const task = { ...(await store.createTask({ ttl: extra.taskRequestedTtl, pollInterval: 100 })) };
    (async () => {
      const isCancelled = () => false;
      let cancelled = false;
      const poll = setInterval(async () => { const t = await store.getTask(task.taskId).catch(() => null); if (t?.status === 'cancelled') cancelled = true; }, 20);
      try {
        const r = await run(() => cancelled);
        if (r) await store.storeTaskResult(task.taskId, r.isError ? 'failed' : 'completed', r);
      } catch (e) { if (TRACE) console.error('bg', e.message); }
      finally { clearInterval(poll); }
    })();
    return { task };
  });
  return server;
}

const transports = new Map();
const httpServer = http.createServer(async (req, res) => {
  let body = '';
  for await (const c of req) body += c;
  const parsed = body ? JSON.parse(body) : undefined;
  if (TRACE && parsed) console.error(`${req.method} ${JSON.stringify(parsed)} hdr=${JSON.stringify({ pv: req.headers['mcp-protocol-version'], sid: req.headers['mcp-session-id'] })}`);
  const sid = req.headers['mcp-session-id'];
  let transport = sid ? transports.get(sid) : undefined;
  if (!transport) {
    if (sid) { res.writeHead(404).end(); return; }
    transport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), onsessioninitialized: (id) => transports.set(id, transport) });
    await makeServer().connect(transport);
  }
  await transport.handleRequest(req, res, parsed);
});
httpServer.listen(port, '127.0.0.1', () => console.error(`listening on http://127.0.0.1:${httpServer.address().port}/mcp`));
