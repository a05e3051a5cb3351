#!/usr/bin/env node
// bench/http/design-server.js: the design document's booking controller
// (../shared/seed/medreserve-design.md, "Layer 1: Database Transaction with
// Row Locking"), an Express server with a node-postgres pool, for case 8 of
// bench/run.sh.  It is the design's code, adapted only where 1.2's tables
// require it:
//
//   BEGIN
//   SELECT ... FROM slots WHERE id = $1 FOR UPDATE    the design's lock; 1.2's bookings
//                                                     carry the doctor and the span, so it
//                                                     also reads them (doctor_id, start, end)
//   INSERT INTO bookings (... 'PENDING', now() + 2 min) RETURNING *     createBooking()
//   INSERT INTO booking_slots (booking_id, slot_id)   UNIQUE (slot_id, seat) -> 23505 -> 409
//   UPDATE bookings SET status = 'CONFIRMED' ...      layer 3: "confirmed only after the
//                                                     booking_slots insert"; the same statement
//                                                     adds the seat to the slot's
//                                                     seats_confirmed, which 1.2 keeps on the
//                                                     slot (so medreserve_verify() stays clean)
//   COMMIT                                            or ROLLBACK on any error
//
// Six round trips per booking, as in the design.  Further changes, each
// needed for the server to work at all: the pooled client is released
// (the design's snippet never releases it, so the pool would run dry after
// `max` requests); a slot that does not exist answers 404 (the design would
// fail on the NOT NULL doctor_id with a 500); the body's patientEmail is
// stored like PostgREST's JWT email claim is (the design's column
// patient_email).  Per-query console logging of the design ("Executed query")
// is left out, as PostgREST logs nothing at log-level = "error".
//
// Environment: PORT (3001), HOST (127.0.0.1), PGHOST/PGPORT/PGUSER/PGDATABASE
// (libpq's, read by node-postgres), POOL_MAX (20: the design's
// config/database.js).
'use strict';
const express = require('express');
const { Pool } = require('pg');

// config/database.js of the design
const pool = new Pool({
  max: Number(process.env.POOL_MAX || 20),
  idleTimeoutMillis: 30000,
  connectionTimeoutMillis: 2000,
});
const getClient = () => pool.connect();

// createBooking() of the design's bookingService: a PENDING booking that
// lapses in two minutes (1.2: with the slot's doctor and span)
async function createBooking(client, slot, patientName, patientEmail) {
  const r = await client.query(
    `INSERT INTO medreserve.bookings
            (slot_id, patient_name, patient_email, status, expires_at, doctor_id, starts_at, ends_at)
     VALUES ($1, $2, $3, 'PENDING', now() + interval '2 minutes', $4, $5, $6)
     RETURNING *`,
    [slot.id, patientName, patientEmail, slot.doctor_id, slot.start_time, slot.end_time]);
  return r.rows[0];
}

// bookingController.bookSlot
async function bookSlot(req, res, next) {
  // "Server-side validation: all inputs validated in controllers"
  const { slotId, patientName, patientEmail = null } = req.body || {};
  if (!Number.isInteger(slotId) || typeof patientName !== 'string' || patientName.trim() === '') {
    return res.status(400).json({ error: 'slotId (integer) and patientName are required' });
  }
  const client = await getClient();
  try {
    await client.query('BEGIN');
    try {
      // SELECT FOR UPDATE locks the row
      const slotResult = await client.query(
        `SELECT id, doctor_id, start_time, medreserve.slot_end(start_time, duration_minutes) AS end_time
           FROM medreserve.slots WHERE id = $1 FOR UPDATE`,
        [slotId]);
      if (slotResult.rowCount === 0) {
        await client.query('ROLLBACK');
        return res.status(404).json({ error: 'Slot not found' });
      }
      // Create booking
      const booking = await createBooking(client, slotResult.rows[0], patientName.trim(), patientEmail);
      // UNIQUE constraint will fail if slot already booked
      await client.query(
        'INSERT INTO medreserve.booking_slots (booking_id, slot_id) VALUES ($1, $2)',
        [booking.id, slotId]);
      // Confirmed only after the booking_slots insert (and, in 1.2, the
      // slot's seat count with it)
      const confirmed = await client.query(
        `WITH b AS (
             UPDATE medreserve.bookings SET status = 'CONFIRMED', updated_at = now()
              WHERE id = $1 RETURNING *),
         s AS (
             UPDATE medreserve.slots SET seats_confirmed = seats_confirmed + 1 WHERE id = $2)
         SELECT * FROM b`,
        [booking.id, slotId]);
      await client.query('COMMIT');
      return res.status(201).json(confirmed.rows[0]);
    } catch (error) {
      await client.query('ROLLBACK');
      if (error.code === '23505') { // Unique violation
        return res.status(409).json({ error: 'Slot already booked' });
      }
      throw error;
    }
  } catch (error) {
    return next(error);
  } finally {
    client.release();
  }
}

const app = express();
app.use(express.json());
app.post('/api/slots/book', bookSlot);
app.get('/health', async (req, res) => {       // the design's health check
  try {
    await pool.query('SELECT 1');
    res.json({ status: 'healthy', database: 'connected' });
  } catch (error) {
    res.status(503).json({ status: 'unhealthy', database: 'disconnected' });
  }
});
// errors: no patient data in the log, only the SQLSTATE
app.use((err, req, res, next) => {             // eslint-disable-line no-unused-vars
  console.error('request failed', { code: err.code });
  res.status(500).json({ error: 'Internal server error' });
});

const port = Number(process.env.PORT || 3001);
const server = app.listen(port, process.env.HOST || '127.0.0.1', () => {
  console.log(`design server listening on ${port}`);
});
const stop = () => server.close(() => pool.end().then(() => process.exit(0)));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
