// A producer in another language: queues earmark jobs with celery-node, following the producer
// protocol of the README ("Producers in other languages"): reserve, book, publish.
//
// Usage: node produce.js BROKER_URL BATCH_ID TTL_S SPEC_JSON
//   SPEC_JSON: {"interactive": [ref, ...], "bulk": [ref, ...], "reserve": true|false,
//               "window": {"window_s": 1.0, "timeline": true} (optional: every job's windows)}
"use strict";

const celery = require("celery-node");
const Redis = require("ioredis");
const { v4: uuid } = require("uuid");

const [brokerUrl, batchId, ttlText, specText] = process.argv.slice(2);
const ttl = Number(ttlText);
const spec = JSON.parse(specText);

async function reserve(redis, count) {
  // The batch's counters: the indices handed out are total-count .. total-1, never twice.
  const total = await redis.hincrby(`earmark:batch:${batchId}`, "total", count);
  await redis.expire(`earmark:batch:${batchId}`, ttl);
  await redis.expire(`earmark:batch:${batchId}:finished`, ttl);
  return total - count;
}

async function book(redis, key, task, kwargs) {
  // A copy of the message until its jobs finish: a worker's sweeper re-sends a lost one.
  await redis.hset(`earmark:outstanding:${batchId}`, key, JSON.stringify({ task, kwargs }));
  await redis.expire(`earmark:outstanding:${batchId}`, ttl);
  await redis.sadd("earmark:open", batchId);
}

async function publish(queue, task, kwargs) {
  const client = celery.createClient(brokerUrl, brokerUrl, queue);
  const message = client.createTaskMessage(uuid(), task, [], kwargs);
  await client.isReady();
  await client.broker.publish(message.body, "", queue, message.headers, message.properties);
  await client.disconnect();
}

async function main() {
  const redis = new Redis(brokerUrl);
  const refs = [...spec.interactive, ...spec.bulk];
  const first = spec.reserve ? await reserve(redis, refs.length) : 0;
  const now = Date.now() / 1000;
  const jobIds = refs.map((_, n) => `${batchId}:${first + n}`);
  for (const [n, ref] of spec.interactive.entries()) {
    const job = { job_id: jobIds[n], batch_id: batchId, ref, enqueued_at: now };
    if (spec.window) job.window = spec.window;
    const kwargs = { job };
    if (spec.reserve) await book(redis, jobIds[n], "earmark.classify", kwargs);
    await publish("earmark.interactive", "earmark.classify", kwargs);
  }
  if (spec.bulk.length) {
    const offset = spec.interactive.length;
    const jobs = spec.bulk.map((ref, n) => ({ job_id: jobIds[offset + n], ref }));
    const chunkId = String(first + offset);
    const chunk = { batch_id: batchId, chunk_id: chunkId, jobs, enqueued_at: now };
    if (spec.window) chunk.window = spec.window;
    const kwargs = { chunk };
    if (spec.reserve) await book(redis, `${batchId}:chunk:${chunkId}`, "earmark.classify_chunk", kwargs);
    await publish("earmark.bulk", "earmark.classify_chunk", kwargs);
  }
  await redis.quit();
  console.log(JSON.stringify({ batch_id: batchId, jobs: refs.length }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
