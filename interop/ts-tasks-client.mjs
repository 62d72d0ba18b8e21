#!/usr/bin/env node
// Interop test: TypeScript SDK (@modelcontextprotocol/sdk 1.32.x) client against a Ferry server,
// exercising MCP tasks in the 2025-11-25 ("Form A", SEP-1686) wire form over Streamable HTTP.
//
// Usage: node interop/ts-tasks-client.mjs [URL]     (default http://127.0.0.1:8765/mcp)
// Env:   FERRY_INTEROP_TRACE=1   print every JSON-RPC message sent/received to stderr
//        FERRY_INTEROP_TIMEOUT_MS overall watchdog (default 120000)
//
// Demo server contract: tools add(a,b)->a+b, sleep(ms)->"slept {ms}", fail(message) -> tool error,
// progress(steps, delay_ms) -> progress "step i/steps" then "done {steps}"  (all taskSupport optional),
// must_task(x)->2x (taskSupport required), no_task(x)->2x (taskSupport forbidden).
//
// Output: one line per check, "ok <name>" or "FAIL <name>: <reason>", then "N passed, M failed".
// Exit code 0 only if every check passed.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CallToolResultSchema,
  RELATED_TASK_META_KEY,
  TaskStatusNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';

const URL_ARG = process.argv[2] || 'http://127.0.0.1:8765/mcp';
const TRACE = !!process.env.FERRY_INTEROP_TRACE;
const WATCHDOG_MS = Number(process.env.FERRY_INTEROP_TIMEOUT_MS || 120000);
const REQUEST_TIMEOUT_MS = 30000; // per JSON-RPC request (tasks/result blocks until the task is terminal)
const TASK_TTL_MS = 60000;

let passed = 0;
let failed = 0;
const results = [];

function ok(name) {
  passed++;
  results.push(name);
  console.log(`ok ${name}`);
}
function fail(name, reason) {
  failed++;
  results.push(name);
  console.log(`FAIL ${name}: ${String(reason).replace(/\s+/g, ' ').trim()}`);
}
function errText(e) {
  if (e === undefined || e === null) return String(e);
  if (typeof e === 'object' && 'code' in e && e.code !== undefined) return `${e.message} (code ${e.code})`;
  return e instanceof Error ? e.message : String(e);
}
function textOf(result) {
  const c = result?.content;
  if (!Array.isArray(c)) return undefined;
  const t = c.find((b) => b && b.type === 'text');
  return t?.text;
}
function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}
function finish() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
}

// Run one check; the body returns nothing on success and throws (or calls fail) otherwise.
async function check(name, body) {
  try {
    const r = await body();
    if (r === false) return; // body reported its own failure
    ok(name);
  } catch (e) {
    fail(name, errText(e));
  }
}

// Drain a callToolStream generator, collecting its messages. `onCreated` is awaited when the
// 'taskCreated' message arrives (used to cancel a task mid-flight).
async function drain(stream, onCreated) {
  const msgs = [];
  for await (const m of stream) {
    msgs.push(m);
    if (m.type === 'taskCreated' && onCreated) await onCreated(m.task);
  }
  const created = msgs.find((m) => m.type === 'taskCreated')?.task;
  const statuses = msgs.filter((m) => m.type === 'taskStatus').map((m) => m.task.status);
  const last = msgs[msgs.length - 1];
  return { msgs, created, statuses, last };
}

function describeEnd(d) {
  if (!d.last) return 'stream yielded nothing';
  if (d.last.type === 'error') return `stream ended with error: ${errText(d.last.error)}`;
  if (d.last.type === 'result') return `stream ended with result ${JSON.stringify(d.last.result).slice(0, 300)}`;
  return `stream ended with ${d.last.type}`;
}

const watchdog = setTimeout(() => {
  fail('watchdog', `test did not finish within ${WATCHDOG_MS} ms`);
  finish();
}, WATCHDOG_MS);
watchdog.unref();

async function main() {
  const transport = new StreamableHTTPClientTransport(new URL(URL_ARG));
  if (TRACE) {
    const origSend = transport.send.bind(transport);
    transport.send = (msg, opts) => {
      console.error(`>> ${JSON.stringify(msg)}`);
      return origSend(msg, opts);
    };
    // Protocol.connect() chains a pre-set onmessage before its own handler.
    transport.onmessage = (msg) => console.error(`<< ${JSON.stringify(msg)}`);
  }
  const client = new Client({ name: 'ferry-interop-ts-client', version: '0.1.0' }, { capabilities: {} });
  client.onerror = (e) => {
    if (TRACE) console.error(`!! client error: ${errText(e)}`);
  };
  const statusNotifications = [];
  client.setNotificationHandler(TaskStatusNotificationSchema, (n) => {
    statusNotifications.push(n.params);
  });

  const reqOpts = { timeout: REQUEST_TIMEOUT_MS };
  const taskOpts = { ...reqOpts, task: { ttl: TASK_TTL_MS } };
  const createdTaskIds = new Map(); // label -> taskId

  // ---- initialize -------------------------------------------------------------------------
  try {
    await client.connect(transport);
  } catch (e) {
    fail('initialize', `connect to ${URL_ARG} failed: ${errText(e)}`);
    finish();
  }
  await check('initialize', async () => {
    const v = transport.protocolVersion;
    if (v !== '2025-11-25') throw new Error(`negotiated protocolVersion ${JSON.stringify(v)}, expected "2025-11-25"`);
  });

  await check('capabilities-tasks', async () => {
    const caps = client.getServerCapabilities() ?? {};
    const t = caps.tasks;
    const missing = [];
    if (!caps.tools) missing.push('tools');
    if (!t) missing.push('tasks');
    if (!t?.requests?.tools?.call) missing.push('tasks.requests.tools.call');
    if (!t?.cancel) missing.push('tasks.cancel');
    if (!t?.list) missing.push('tasks.list');
    if (missing.length) throw new Error(`server capabilities lack ${missing.join(', ')}: ${JSON.stringify(caps)}`);
  });

  // ---- tools/list ------------------------------------------------------------------------
  await check('tools-list', async () => {
    const { tools } = await client.listTools(undefined, reqOpts); // also primes the SDK's taskSupport cache
    const expect = {
      add: 'optional',
      sleep: 'optional',
      fail: 'optional',
      progress: 'optional',
      must_task: 'required',
      no_task: 'forbidden',
    };
    const problems = [];
    for (const [name, mode] of Object.entries(expect)) {
      const tool = tools.find((t) => t.name === name);
      if (!tool) {
        problems.push(`missing tool ${name}`);
        continue;
      }
      const got = tool.execution?.taskSupport ?? 'forbidden';
      if (got !== mode) problems.push(`${name}.execution.taskSupport=${JSON.stringify(tool.execution?.taskSupport)} (want ${mode})`);
    }
    if (problems.length) throw new Error(problems.join('; '));
  });

  const tasksApi = client.experimental.tasks;

  // ---- add: task-augmented call ----------------------------------------------------------
  let addTaskId;
  await check('add-task', async () => {
    const d = await drain(tasksApi.callToolStream({ name: 'add', arguments: { a: 2, b: 3 } }, CallToolResultSchema, taskOpts));
    if (!d.created) throw new Error(`no CreateTaskResult (taskCreated) — ${describeEnd(d)}`);
    addTaskId = d.created.taskId;
    createdTaskIds.set('add', addTaskId);
    if (d.created.status !== 'working') throw new Error(`CreateTaskResult.task.status=${d.created.status}, want "working"`);
    if (d.last?.type !== 'result') throw new Error(describeEnd(d));
    const text = textOf(d.last.result);
    if (text !== '5') throw new Error(`final text ${JSON.stringify(text)}, want "5"`);
    if (d.statuses[d.statuses.length - 1] !== 'completed') throw new Error(`last tasks/get status ${d.statuses.at(-1)}`);
    const meta = d.last.result._meta?.[RELATED_TASK_META_KEY];
    if (meta?.taskId !== addTaskId)
      throw new Error(`tasks/result lacks _meta["${RELATED_TASK_META_KEY}"].taskId == ${addTaskId} (got ${JSON.stringify(d.last.result._meta)})`);
  });

  await check('add-task-get-terminal', async () => {
    if (!addTaskId) throw new Error('no task id from add-task');
    const t = await tasksApi.getTask(addTaskId, reqOpts);
    if (t.taskId !== addTaskId) throw new Error(`tasks/get returned taskId ${t.taskId}`);
    if (t.status !== 'completed') throw new Error(`status ${t.status}, want completed`);
    for (const f of ['createdAt', 'lastUpdatedAt']) if (Number.isNaN(Date.parse(t[f]))) throw new Error(`${f} not ISO-8601: ${t[f]}`);
  });

  // ---- progress: task-augmented call with progress token -----------------------------------
  const progress = [];
  await check('progress-task', async () => {
    const opts = { ...taskOpts, onprogress: (p) => progress.push(p) };
    const d = await drain(tasksApi.callToolStream({ name: 'progress', arguments: { steps: 3, delay_ms: 50 } }, CallToolResultSchema, opts));
    if (!d.created) throw new Error(`no CreateTaskResult — ${describeEnd(d)}`);
    createdTaskIds.set('progress', d.created.taskId);
    if (d.last?.type !== 'result') throw new Error(describeEnd(d));
    const text = textOf(d.last.result);
    if (text !== 'done 3') throw new Error(`final text ${JSON.stringify(text)}, want "done 3"`);
  });
  await sleep(300); // progress may arrive on the standalone GET stream slightly after the result
  await check('progress-notifications', async () => {
    const msgs = progress.map((p) => p.message);
    const want = ['step 1/3', 'step 2/3', 'step 3/3'];
    if (progress.length !== 3) throw new Error(`received ${progress.length} progress notifications ${JSON.stringify(progress)}, want 3`);
    for (let i = 1; i < progress.length; i++)
      if (!(progress[i].progress > progress[i - 1].progress)) throw new Error(`progress not increasing: ${JSON.stringify(progress)}`);
    if (JSON.stringify(msgs) !== JSON.stringify(want)) throw new Error(`messages ${JSON.stringify(msgs)}, want ${JSON.stringify(want)}`);
  });

  // ---- sleep: cancel mid-flight --------------------------------------------------------------
  await check('sleep-task-cancel', async () => {
    const started = Date.now();
    let cancelResult;
    let cancelError;
    const d = await drain(
      tasksApi.callToolStream({ name: 'sleep', arguments: { ms: 5000 } }, CallToolResultSchema, taskOpts),
      async (task) => {
        createdTaskIds.set('sleep', task.taskId);
        try {
          cancelResult = await tasksApi.cancelTask(task.taskId, reqOpts);
        } catch (e) {
          cancelError = e;
        }
      },
    );
    if (!d.created) throw new Error(`no CreateTaskResult — ${describeEnd(d)}`);
    if (cancelError) throw new Error(`tasks/cancel failed: ${errText(cancelError)}`);
    if (cancelResult?.status !== 'cancelled') throw new Error(`tasks/cancel returned status ${cancelResult?.status}, want "cancelled" (the Task, updated before responding)`);
    if (cancelResult.taskId !== d.created.taskId) throw new Error(`tasks/cancel returned taskId ${cancelResult.taskId}`);
    const t = await tasksApi.getTask(d.created.taskId, reqOpts);
    if (t.status !== 'cancelled') throw new Error(`tasks/get after cancel: status ${t.status}`);
    if (d.last?.type !== 'error' || !/cancelled/.test(d.last.error?.message ?? ''))
      throw new Error(`callToolStream should end with "was cancelled" error; ${describeEnd(d)}`);
    const elapsed = Date.now() - started;
    if (elapsed >= 5000) throw new Error(`took ${elapsed} ms: the cancel did not cut the 5 s sleep short`);
  });
  await check('sleep-task-stays-cancelled', async () => {
    const id = createdTaskIds.get('sleep');
    if (!id) throw new Error('no sleep task');
    await sleep(500);
    const t = await tasksApi.getTask(id, reqOpts);
    if (t.status !== 'cancelled') throw new Error(`status ${t.status} after 500 ms, want cancelled`);
  });

  // ---- cancel of a terminal task: -32602 ---------------------------------------------------------
  await check('cancel-terminal-rejected', async () => {
    if (!addTaskId) throw new Error('no task id from add-task');
    try {
      const r = await tasksApi.cancelTask(addTaskId, reqOpts);
      throw new Error(`tasks/cancel on a completed task returned ${JSON.stringify(r)}; want JSON-RPC error -32602`);
    } catch (e) {
      if (e?.code !== -32602) throw new Error(`want error code -32602, got ${errText(e)}`);
    }
  });

  // ---- unknown task id: -32602 ------------------------------------------------------------------
  await check('get-unknown-task-rejected', async () => {
    try {
      const r = await tasksApi.getTask('ferry-interop-no-such-task', reqOpts);
      throw new Error(`tasks/get returned ${JSON.stringify(r)}; want JSON-RPC error -32602`);
    } catch (e) {
      if (e?.code !== -32602) throw new Error(`want error code -32602, got ${errText(e)}`);
    }
  });

  // ---- no_task: plain call ------------------------------------------------------------------------
  await check('no_task-plain', async () => {
    const r = await client.callTool({ name: 'no_task', arguments: { x: 4 } }, CallToolResultSchema, reqOpts);
    if (r.isError) throw new Error(`isError result: ${JSON.stringify(r)}`);
    const text = textOf(r);
    if (text !== '8') throw new Error(`text ${JSON.stringify(text)}, want "8"`);
  });
  await check('no_task-task-rejected', async () => {
    // taskSupport "forbidden" + params.task => spec (2025-11-25 tools) SHOULD return -32601.
    const d = await drain(tasksApi.callToolStream({ name: 'no_task', arguments: { x: 4 } }, CallToolResultSchema, taskOpts));
    if (d.created) throw new Error(`server created task ${d.created.taskId} for a forbidden tool`);
    if (d.last?.type !== 'error' || d.last.error?.code !== -32601) throw new Error(`want JSON-RPC error -32601; ${describeEnd(d)}`);
  });

  // ---- must_task: task-augmented call ---------------------------------------------------------------
  await check('must_task-task', async () => {
    const d = await drain(tasksApi.callToolStream({ name: 'must_task', arguments: { x: 5 } }, CallToolResultSchema, taskOpts));
    if (!d.created) throw new Error(`no CreateTaskResult — ${describeEnd(d)}`);
    createdTaskIds.set('must_task', d.created.taskId);
    if (d.last?.type !== 'result') throw new Error(describeEnd(d));
    const text = textOf(d.last.result);
    if (text !== '10') throw new Error(`final text ${JSON.stringify(text)}, want "10"`);
  });
  await check('must_task-without-task-rejected', async () => {
    // client.callTool() refuses 'required' tools locally, so send the raw request: spec MUST -32601.
    try {
      const r = await client.request({ method: 'tools/call', params: { name: 'must_task', arguments: { x: 5 } } }, CallToolResultSchema, reqOpts);
      throw new Error(`plain tools/call of a required tool returned ${JSON.stringify(r).slice(0, 300)}; want JSON-RPC error -32601`);
    } catch (e) {
      if (e?.code !== -32601) throw new Error(`want error code -32601, got ${errText(e)}`);
    }
  });

  // ---- fail: task ends failed ----------------------------------------------------------------------
  await check('fail-task-failed', async () => {
    const d = await drain(tasksApi.callToolStream({ name: 'fail', arguments: { message: 'boom' } }, CallToolResultSchema, taskOpts));
    if (!d.created) throw new Error(`no CreateTaskResult — ${describeEnd(d)}`);
    createdTaskIds.set('fail', d.created.taskId);
    const lastStatus = d.statuses[d.statuses.length - 1];
    if (lastStatus !== 'failed') throw new Error(`last tasks/get status ${JSON.stringify(lastStatus)}, want "failed"; ${describeEnd(d)}`);
    if (d.last?.type !== 'error' || !/failed/.test(d.last.error?.message ?? '')) throw new Error(describeEnd(d));
    const t = await tasksApi.getTask(d.created.taskId, reqOpts);
    if (t.status !== 'failed') throw new Error(`tasks/get status ${t.status}`);
  });
  await check('fail-task-result-payload', async () => {
    // 2025-11-25: a tool result with isError:true makes the task "failed"; tasks/result returns that CallToolResult.
    const id = createdTaskIds.get('fail');
    if (!id) throw new Error('no fail task');
    const r = await tasksApi.getTaskResult(id, CallToolResultSchema, reqOpts);
    if (r.isError !== true) throw new Error(`tasks/result isError=${r.isError}, want true: ${JSON.stringify(r).slice(0, 300)}`);
    if (!(textOf(r) ?? '').includes('boom')) throw new Error(`tasks/result text ${JSON.stringify(textOf(r))} does not contain "boom"`);
  });

  // ---- tasks/list --------------------------------------------------------------------------------
  await check('tasks-list', async () => {
    const seen = new Set();
    let cursor;
    for (let page = 0; page < 100; page++) {
      const r = await tasksApi.listTasks(cursor, reqOpts);
      for (const t of r.tasks) seen.add(t.taskId);
      cursor = r.nextCursor;
      if (!cursor) break;
    }
    const missing = [...createdTaskIds.entries()].filter(([, id]) => !seen.has(id)).map(([label, id]) => `${label}=${id}`);
    if (createdTaskIds.size === 0) throw new Error('no tasks were created by earlier checks');
    if (missing.length) throw new Error(`tasks/list lacks ${missing.join(', ')} (listed ${seen.size})`);
  });

  if (TRACE) console.error(`status notifications received: ${JSON.stringify(statusNotifications)}`);
  try {
    await transport.terminateSession();
  } catch {
    // DELETE may be unsupported (405 is accepted by the SDK); not part of this test
  }
  await client.close().catch(() => {});
}

main()
  .catch((e) => fail('unexpected', errText(e)))
  .finally(finish);
