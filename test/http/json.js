#!/usr/bin/env node
// JSON checks for run.sh: the response body comes on stdin.
//   node json.js test 'EXPR'   exit 0 when EXPR is true, else 1
//   node json.js get 'EXPR'    print EXPR (strings as is, the rest as JSON)
// In EXPR, b is the parsed body (null when empty) and these helpers exist:
//   err(code, message)  b is PostgREST's error object with that code and message
//   ids()               the ids of an array body, joined by commas: "1,2,5"
'use strict';
const fs = require('fs');

const [mode, expr] = process.argv.slice(2);
const text = fs.readFileSync(0, 'utf8');
let b;
try {
  b = text.trim() === '' ? null : JSON.parse(text);
} catch (e) {
  process.exit(1);               // not JSON: no check can pass
}
const err = (code, message) =>
  b !== null && typeof b === 'object' && b.code === code &&
  (message === undefined || b.message === message);
const ids = () => (Array.isArray(b) ? b.map((row) => row.id).join(',') : null);

let value;
try {
  value = new Function('b', 'err', 'ids', `return (${expr});`)(b, err, ids);
} catch (e) {
  console.error(`json.js: ${e.message}`);
  process.exit(1);
}
if (mode === 'get') {
  process.stdout.write((typeof value === 'string' ? value : JSON.stringify(value)) + '\n');
} else {
  process.exit(value === true ? 0 : 1);
}
