// The reference worker (examples/event-worker) end to end: it registers its
// consumer, LISTENs, and is woken by the doorbell (its poll interval is far
// longer than the test allows), prints what it would send for each event,
// acknowledges them, and sends each due reminder once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createDatabase } from './common.mjs';

const db = `medreserve_worker_${process.pid}`;
const workerJs = fileURLToPath(new URL('../../examples/event-worker/worker.js', import.meta.url));
let dropDatabase;
let admin;
let worker;
let output = '';

// Resolves when the worker's output matches; fails after a generous bound.
function waitFor(pattern, what) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker never printed ${what}; output:\n${output}`)), 20000);
    const check = () => {
      if (pattern.test(output)) {
        clearTimeout(timer);
        worker.stdout.off('data', check);
        resolve();
      }
    };
    worker.stdout.on('data', check);
    check();
  });
}

before(async () => {
  dropDatabase = await createDatabase(db);
  admin = new pg.Client({ database: db, user: process.env.PGUSER || 'postgres' });
  await admin.connect();
  await admin.query(`
    SELECT medreserve_add_doctor('Dr Ada Grey');
    SELECT count(*) FROM medreserve_add_slots(1, now() + interval '2 hours', now() + interval '4 hours', 30);`);
  worker = spawn(process.execPath, [workerJs, '--consumer', 'e2e', '--poll', '600', '--channel', 'sms'], {
    env: { ...process.env, PGDATABASE: db, PGUSER: process.env.PGUSER || 'postgres' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  worker.stdout.setEncoding('utf8');
  worker.stdout.on('data', (chunk) => { output += chunk; });
  await waitFor(/listening as consumer e2e/, 'that it listens');
});

after(async () => {
  if (worker && worker.exitCode === null) {
    worker.kill('SIGTERM');
    await once(worker, 'exit');
  }
  await admin?.end();
  await dropDatabase?.();
});

test('the worker is woken by the doorbell, prints and acknowledges each event', async () => {
  const booked = (await admin.query(`SELECT id FROM medreserve_book(1, 'Ann Lee', 'ann@example.org')`)).rows[0].id;
  const held = (await admin.query(`SELECT id FROM medreserve_hold(ARRAY[2, 3], 'Bob Marsh')`)).rows[0].id;
  await admin.query('SELECT medreserve_cancel($1)', [held]);
  const { rows: events } = await admin.query(
    'SELECT id, type FROM medreserve.events WHERE booking_id IS NOT NULL ORDER BY id');
  assert.deepEqual(events.map((e) => e.type), ['booked', 'held', 'cancelled']);
  for (const e of events) {
    await waitFor(new RegExp(`event ${e.id} ${e.type} booking`), `event ${e.id}`);
  }
  assert.match(output, new RegExp(`event ${events[0].id} booked booking ${booked} slots \\[1\\]: would send a booking confirmation`));
  assert.match(output, new RegExp(`event ${events[2].id} cancelled booking ${held} slots \\[2,3\\]: would send a cancellation notice`));
  await waitFor(new RegExp(`acknowledged \\d+ event\\(s\\) up to ${events[2].id}`), 'the acknowledgement');
  // nothing left unacknowledged, each event printed once
  const pending = (await admin.query(`SELECT count(*)::int AS n FROM medreserve.event_deliveries WHERE consumer = 'e2e'`)).rows[0].n;
  assert.equal(pending, 0);
  for (const e of events) {
    assert.equal(output.split(`event ${e.id} ${e.type} `).length - 1, 1, `event ${e.id} printed once`);
  }
  // the patient's email never reaches the log unmasked
  assert.doesNotMatch(output, /ann@example\.org/);
});

test('the worker sends a due reminder once per channel', async () => {
  // Ann's confirmed booking starts within 24 hours: reminded at the worker's
  // next round, which the next event's doorbell starts
  const { rows } = await admin.query(`SELECT id FROM medreserve_book(4, 'Cy Park', 'cy@example.org')`);
  await waitFor(new RegExp(`reminder for booking ${rows[0].id} at .* to c\\*\\*\\*@example\\.org via sms`), 'the reminder');
  await waitFor(/reminder for booking 1 at .* to a\*\*\*@example\.org via sms/, 'Ann\'s reminder');
  await waitFor(new RegExp(`marked booking ${rows[0].id} reminded via sms`), 'the reminder marked');
  await waitFor(/marked booking 1 reminded via sms/, 'Ann\'s reminder marked');
  const marked = (await admin.query(`SELECT count(*)::int AS n FROM medreserve.reminders_sent WHERE channel = 'sms'`)).rows[0].n;
  assert.equal(marked, 2);
  const due = (await admin.query(`SELECT count(*)::int AS n FROM medreserve_due_reminders(channel => 'sms')`)).rows[0].n;
  assert.equal(due, 0);
  assert.equal(output.split('reminder for booking 1 ').length - 1, 1, 'reminded once');
});

test('the worker stops cleanly on SIGTERM', async () => {
  worker.kill('SIGTERM');
  const [code] = await once(worker, 'exit');
  assert.equal(code, 0);
  assert.match(output, /stopped\n$/);
});
