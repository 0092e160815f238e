// SPDX-License-Identifier: MIT
// BullMQ peer worker: one Node process running a Worker with
// --concurrency jobs in flight; the job is SHA-512 of its payload.
'use strict';
const crypto = require('crypto');
const { Worker } = require('bullmq');
const { connection, QUEUE } = require('./bullmq_common');

function hash(job) {
  const { data, iterations = 1 } = job.data;
  let d = Buffer.from(data, 'latin1');
  for (let i = 1; i < iterations; i++)
    d = crypto.createHash('sha512').update(d).digest();
  return crypto.createHash('sha512').update(d).digest('hex');
}

const arg = process.argv.indexOf('--concurrency');
const concurrency = arg > 0 ? Number(process.argv[arg + 1]) : 1;
const worker = new Worker(QUEUE, async (job) => hash(job), {
  connection,
  concurrency,
});
worker.on('error', (err) => console.error('bullmq worker:', err.message));
process.on('SIGTERM', async () => {
  await worker.close(true);
  process.exit(0);
});
