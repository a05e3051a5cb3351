#!/usr/bin/env node
// Print an HS256 JSON Web Token, as PostgREST expects in "Authorization: Bearer".
//   node tools/jwt.js SECRET '{"role":"web_patient","email":"ann@example.org"}'
//   node tools/jwt.js @SECRET_FILE '{"role":"web_admin"}'   (the secret read from a file)
// An "exp" one hour ahead is added unless the claims carry their own.
'use strict';
const crypto = require('crypto');

const [secret, claimsJson] = process.argv.slice(2);
if (!secret || !claimsJson) {
  console.error('usage: node tools/jwt.js SECRET|@FILE CLAIMS_JSON');
  process.exit(2);
}
const key = secret.startsWith('@')
  ? require('fs').readFileSync(secret.slice(1), 'utf8').replace(/\n$/, '')   // as $(cat FILE) would
  : secret;
const claims = JSON.parse(claimsJson);
if (!('exp' in claims)) claims.exp = Math.floor(Date.now() / 1000) + 3600;

const b64url = (s) => Buffer.from(s).toString('base64url');
const unsigned = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' })) + '.' +
                 b64url(JSON.stringify(claims));
const signature = crypto.createHmac('sha256', key).update(unsigned).digest('base64url');
process.stdout.write(unsigned + '.' + signature + '\n');
