#!/usr/bin/env node
// Reference consumer of medreserve's outbox (issue 15).
//
//   PGHOST=... PGPORT=... PGUSER=... PGDATABASE=... node worker.js [options]
//     --consumer NAME     consumer name (default: example-worker); registered if new
//     --batch N           events per claim (default 100)
//     --poll SECONDS      claim at least this often even without a doorbell (default 30)
//     --channel NAME      reminder channel (default: email); --no-reminders to skip them
//     --remind-within I   reminder window, a PostgreSQL interval (default: 24 hours)
//
// Loop: LISTEN medreserve_events; claim a batch with medreserve_claim_events();
// print what it would send; acknowledge exactly those ids with
// medreserve_ack_events(consumer, ids); then send due reminders
// (medreserve_due_reminders / medreserve_mark_reminded).  When a batch comes
// back short, wait for the doorbell (NOTIFY, payload = an event id) or the
// poll interval.  The notification is only a doorbell: the claim decides what
// is delivered, and events of a transaction are handed out only once every
// older transaction has ended, so polling now and then is part of the design.
//
// Several copies may run with the same consumer name: they never get the
// same event (except on redelivery after medreserve.event_claim_timeout, if a
// copy died between claim and acknowledgement: handle events idempotently).
// The database role needs medreserve_admin.  Stops cleanly on SIGINT/SIGTERM.
'use strict';

const { Client } = require('pg');

function option(name, fallback) {
  const i = process.argv.indexOf('--' + name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const consumer = option('consumer', 'example-worker');
const batch = Number.parseInt(option('batch', '100'), 10);
const pollMs = Number.parseFloat(option('poll', '30')) * 1000;
const channel = option('channel', 'email');
const remindWithin = option('remind-within', '24 hours');
const reminders = !process.argv.includes('--no-reminders');

// What a real worker would send.  No patient data goes to the log but the
// address a message is for, masked.
function mask(email) {
  if (!email) return '(no email)';
  const [local, domain] = email.split('@');
  return local.slice(0, 1) + '***@' + domain;
}

function describe(event) {
  const what = {
    booked: 'send a booking confirmation',
    confirmed: 'send a booking confirmation',
    held: 'send a "complete your booking" note',
    cancelled: 'send a cancellation notice',
    expired: event.detail && event.detail.via === 'sweep' ? 'send a "your hold lapsed" note' : 'nothing (a booker took the lapsed slot)',
    slots_generated: 'update the public calendar',
    slots_removed: 'update the public calendar',
  }[event.type] || 'nothing';
  const subject = event.booking_id != null ? `booking ${event.booking_id}` : `doctor ${event.doctor_id}`;
  return `event ${event.id} ${event.type} ${subject} slots ${JSON.stringify(event.slot_ids)}: would ${what}`;
}

async function main() {
  const client = new Client({ application_name: `medreserve-worker:${consumer}` });
  let stopping = false;
  let rang = false;     // a doorbell since the last claim began
  let wake = null;      // ends the current wait
  const wakeUp = () => { if (wake) { const w = wake; wake = null; w(); } };
  const stop = () => { stopping = true; wakeUp(); };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  await client.connect();
  client.on('notification', (msg) => {
    if (msg.channel === 'medreserve_events') { rang = true; wakeUp(); }
  });
  await client.query('SELECT name FROM medreserve_register_consumer($1)', [consumer]);
  await client.query('LISTEN medreserve_events');
  console.log(`listening as consumer ${consumer}`);

  while (!stopping) {
    rang = false;
    const { rows } = await client.query(
      'SELECT id, type, booking_id, doctor_id, slot_ids, status, detail, delivery_attempt FROM medreserve_claim_events($1, $2)',
      [consumer, batch]);
    for (const event of rows) {
      console.log(describe(event) + (event.delivery_attempt > 1 ? ` (attempt ${event.delivery_attempt})` : ''));
    }
    if (rows.length > 0) {
      const ids = rows.map((e) => e.id);
      await client.query('SELECT medreserve_ack_events($1, $2::bigint[])', [consumer, ids]);
      console.log(`acknowledged ${ids.length} event(s) up to ${ids[ids.length - 1]}`);
    }
    if (reminders) {
      const due = await client.query(
        'SELECT booking_id, starts_at, patient_email FROM medreserve_due_reminders($1::interval, $2)',
        [remindWithin, channel]);
      for (const r of due.rows) {
        console.log(`reminder for booking ${r.booking_id} at ${r.starts_at.toISOString()} to ${mask(r.patient_email)} via ${channel}`);
        // sent, then marked: a crash in between sends it again (at least once)
        await client.query('SELECT medreserve_mark_reminded($1, $2)', [r.booking_id, channel]);
        console.log(`marked booking ${r.booking_id} reminded via ${channel}`);
      }
    }
    if (rows.length < batch && !rang && !stopping) {
      await new Promise((resolve) => {
        const timer = setTimeout(() => { wake = null; resolve(); }, pollMs);
        wake = () => { clearTimeout(timer); resolve(); };
      });
    }
  }
  await client.end();
  console.log('stopped');
}

main().catch((err) => {
  console.error(`worker failed: ${err.code || ''} ${err.message}`);
  process.exit(1);
});
