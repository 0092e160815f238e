// SPDX-License-Identifier: MIT
// What the BullMQ worker and producer share: the connection from
// BENCH_REDIS, the queue name and the payload rule of bench/workloads.py.
'use strict';
const fs = require('fs');

const url = new URL(process.env.BENCH_REDIS);
exports.connection = {
  host: url.hostname,
  port: Number(url.port),
  maxRetriesPerRequest: null,
};
exports.QUEUE = 'bench';

exports.taskId = (i) => `t${i}`;
exports.payload = (filler, i, size) =>
  String(i).padStart(10, '0').slice(-10) + filler.slice(0, size - 10);

exports.readFiller = (path) => fs.readFileSync(path, 'latin1');
