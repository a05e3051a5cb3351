#!/usr/bin/env node
// bench/http/tokens.js SECRET COUNT: COUNT patients' HS256 tokens for case 8,
// one a line, token i (from 0) for {"role":"web_patient",
// "email":"patient-<i>@bench.example", "exp": a day ahead}, signed as
// tools/jwt.js signs them (one process instead of COUNT).
'use strict';
const crypto = require('crypto');

const [secret, count] = process.argv.slice(2);
if (!secret || !(Number(count) > 0)) {
  console.error('usage: node bench/http/tokens.js SECRET COUNT');
  process.exit(2);
}
const b64url = (s) => Buffer.from(s).toString('base64url');
const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
const exp = Math.floor(Date.now() / 1000) + 86400;
const lines = [];
for (let i = 0; i < Number(count); i++) {
  const unsigned = header + '.' +
    b64url(JSON.stringify({ role: 'web_patient', email: `patient-${i}@bench.example`, exp }));
  lines.push(unsigned + '.' + crypto.createHmac('sha256', secret).update(unsigned).digest('base64url'));
}
process.stdout.write(lines.join('\n') + '\n');
