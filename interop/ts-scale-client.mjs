#!/usr/bin/env node
// Scale-out workload: the TypeScript SDK client (2025-11-25, its tasks API) through a load balancer
// in front of several Ferry front ends (crates/ferry/tests/scale_out.rs kills one meanwhile).
//
// Usage: node interop/ts-scale-client.mjs URL DURATION_MS
// Env:   FERRY_SCALE_READY_FILE   written when the workload starts
// For DURATION_MS it repeats: a progress task (taskCreated, progress, result), a sleep task cancelled
// at once, tasks/list; it holds a subscription to ferry://demo/readme all along. Then it waits for
// every task it created to reach a final state (tasks/get). Last line of output, one JSON object:
// {calls: [{what, start, end, error}], tasks, lost: [ids], progress, cancelled, updates: [when heard]}
// with times in ms since the epoch (the test compares them with the moment it killed a front end).

import { writeFileSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

const [url, durationArg] = process.argv.slice(2);
const DURATION_MS = Number(durationArg || 10000);
const RESOURCE = 'ferry://demo/readme';
const reqOpts = { timeout: 30000 };
const taskOpts = { ...reqOpts, task: { ttl: 600000 } };

const calls = [];
const taskIds = [];
const updates = [];
let progress = 0;
let cancelled = 0;

function errText(e) {
  if (e && typeof e === 'object' && 'code' in e && e.code !== undefined) return `${e.message} (code ${e.code})`;
  return e instanceof Error ? e.message : String(e);
}

// Time one call; record how it ended.
async function timed(what, body) {
  const start = Date.now();
  let error = null;
  try {
    await body();
  } catch (e) {
    error = errText(e);
  }
  calls.push({ what, start, end: Date.now(), error });
}

// Drain a callToolStream; the stream's error message becomes an exception.
async function drain(stream, onCreated) {
  let last;
  for await (const m of stream) {
    if (m.type === 'taskCreated') {
      taskIds.push(m.task.taskId);
      if (onCreated) await onCreated(m.task);
    }
    last = m;
  }
  if (last?.type === 'error') throw last.error;
  return last;
}

async function main() {
  const client = new Client({ name: 'ferry-scale-ts-client', version: '0.1.0' }, { capabilities: {} });
  client.onerror = () => {}; // a broken stream is reconnected by the transport
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, () => updates.push(Date.now()));
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  await client.listTools(undefined, reqOpts); // primes the SDK's taskSupport cache
  await client.subscribeResource({ uri: RESOURCE }, reqOpts);
  const tasks = client.experimental.tasks;

  const until = Date.now() + DURATION_MS;
  // Tell the test the workload runs (it kills a front end only then).
  if (process.env.FERRY_SCALE_READY_FILE) writeFileSync(process.env.FERRY_SCALE_READY_FILE, String(Date.now()));
  while (Date.now() < until) {
    await timed('progress task', async () => {
      const opts = { ...taskOpts, onprogress: () => progress++ };
      const last = await drain(tasks.callToolStream({ name: 'progress', arguments: { steps: 4, delay_ms: 60 } }, CallToolResultSchema, opts));
      const text = last?.result?.content?.[0]?.text;
      if (text !== 'done 4') throw new Error(`progress task ended with ${JSON.stringify(last).slice(0, 200)}`);
    });
    await timed('cancelled sleep task', async () => {
      let state;
      await drain(tasks.callToolStream({ name: 'sleep', arguments: { ms: 20000 } }, CallToolResultSchema, taskOpts), async (task) => {
        state = await tasks.cancelTask(task.taskId, reqOpts);
      }).catch((e) => {
        if (!/cancelled/.test(errText(e))) throw e; // the stream of a cancelled task ends so
      });
      if (state?.status !== 'cancelled') throw new Error(`tasks/cancel answered ${JSON.stringify(state)}`);
      cancelled++;
    });
    await timed('tasks/list', async () => {
      await tasks.listTasks(undefined, reqOpts);
    });
  }

  // Every accepted task reaches a final state its session sees.
  const lost = [];
  for (const id of taskIds) {
    const deadline = Date.now() + 60000;
    for (;;) {
      let t;
      try {
        t = await tasks.getTask(id, reqOpts);
      } catch (e) {
        lost.push(`${id}: ${errText(e)}`);
        break;
      }
      if (['completed', 'failed', 'cancelled'].includes(t.status)) break;
      if (Date.now() > deadline) {
        lost.push(`${id}: still ${t.status}`);
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  console.log(JSON.stringify({ calls, tasks: taskIds.length, lost, progress, cancelled, updates }));
  await client.close().catch(() => {});
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`scale client failed: ${errText(e)}`);
    process.exit(1);
  },
);
