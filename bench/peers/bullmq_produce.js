// SPDX-License-Identifier: MIT
// BullMQ producer.  Bulk: Queue.addBulk in chunks of --chunk jobs.
// Latency: add one job, job.waitUntilFinished(QueueEvents).
// Same command line and JSON report as bench/peers/pyproducer.py.
'use strict';
const { Queue, QueueEvents } = require('bullmq');
const common = require('./bullmq_common');

function parse() {
  const a = { count: 0, size: 64, iterations: 1, start: 0, mode: 'bulk', chunk: 1000 };
  const argv = process.argv.slice(2);
  for (let k = 0; k < argv.length; k += 2) {
    const name = argv[k].replace(/^--/, '');
    a[name] = ['filler', 'mode'].includes(name) ? argv[k + 1] : Number(argv[k + 1]);
  }
  return a;
}

function jobs(a) {
  const filler = common.readFiller(a.filler);
  const out = [];
  for (let i = a.start; i < a.start + a.count; i++) {
    const data = { data: common.payload(filler, i, a.size) };
    if (a.iterations > 1) data.iterations = a.iterations;
    out.push({ name: 'hash', data, opts: { jobId: common.taskId(i) } });
  }
  return out;
}

async function main() {
  const a = parse();
  const queue = new Queue(common.QUEUE, { connection: common.connection });
  await queue.waitUntilReady();
  const todo = jobs(a);
  let report;
  if (a.mode === 'latency') {
    const events = new QueueEvents(common.QUEUE, { connection: common.connection });
    await events.waitUntilReady();
    const lat = [];
    for (const j of todo) {
      const t = process.hrtime.bigint();
      const job = await queue.add(j.name, j.data, j.opts);
      await job.waitUntilFinished(events, 60000);
      lat.push(Number(process.hrtime.bigint() - t) / 1e9);
    }
    await events.close();
    report = { t_start: 0, t_end: 0, count: todo.length, latencies: lat };
  } else {
    const t0 = Date.now() / 1000;
    for (let k = 0; k < todo.length; k += a.chunk)
      await queue.addBulk(todo.slice(k, k + a.chunk));
    report = { t_start: t0, t_end: Date.now() / 1000, count: todo.length };
  }
  await queue.close();
  console.log(JSON.stringify(report));
}

main().catch((err) => {
  console.error('bullmq producer:', err);
  process.exit(1);
});
