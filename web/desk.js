// The front desk: a day's appointments per doctor with their status, check-in,
// no-show and cancel, and the health and counters of medreserve.  Uses the
// medreserve 1.2 functions (medreserve_appointments, medreserve_check_in,
// medreserve_mark_no_show) where the server has them, and says so where not.
import {
  api, rpc, query, features, explain, claimsOf, takeToken, setToken,
  el, put, say, fmtDay, fmtTime, dayKey,
} from './api.js';

const TOKEN_KEY = 'medreserve.desk.token';
const REFRESH_MS = 30000;
const $ = (id) => document.getElementById(id);

const state = { token: null, features: new Set(), doctors: [], timer: null };

function fail(err) {
  say($('status'), '');
  say($('alert'), explain(err), 'error');
  if (err && err.status === 401) signOut(explain(err));
}
function ok(text) {
  say($('alert'), '');
  say($('status'), text, 'ok');
}

function showSignIn(reason) {
  $('app').hidden = true;
  $('sign-in').hidden = false;
  $('who').hidden = true;
  $('sign-out').hidden = true;
  if (reason) say($('alert'), reason, 'error');
}

function signOut(reason) {
  clearInterval(state.timer);
  state.token = null;
  setToken(TOKEN_KEY, null);
  showSignIn(reason);
}

async function start(token) {
  const claims = claimsOf(token);
  if (!claims) return showSignIn('This is not a valid access token. Please check it and try again.');
  if (claims.exp && claims.exp * 1000 < Date.now()) {
    setToken(TOKEN_KEY, null);
    return showSignIn('Your sign-in has expired. Please sign in again.');
  }
  state.token = token;
  setToken(TOKEN_KEY, token);
  $('sign-in').hidden = true;
  $('app').hidden = false;
  $('who').hidden = false;
  $('who').textContent = `Signed in as ${claims.role || 'unknown role'}`;
  $('sign-out').hidden = false;
  if (!$('day').value) $('day').value = dayKey(new Date());

  state.features = await features(token);
  try {
    state.doctors = await api(token, '/rpc/medreserve_list_doctors');
  } catch (err) {
    return fail(err);
  }
  describeCapabilities();
  await refresh();
  clearInterval(state.timer);
  state.timer = setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
}

const has = (name) => state.features.has(name);

function describeCapabilities() {
  const parts = [];
  if (!has('medreserve_appointments')) {
    parts.push('This server has no medreserve_appointments() yet (medreserve 1.2): ' +
      'the list is read from the bookings table.');
  }
  if (!has('medreserve_check_in') || !has('medreserve_mark_no_show')) {
    parts.push('Check-in and no-show need medreserve 1.2 (medreserve_check_in, ' +
      'medreserve_mark_no_show); this server does not offer them yet.');
  }
  $('capabilities').textContent = parts.join(' ');
  $('capabilities').hidden = parts.length === 0;
}

function refresh() {
  return Promise.all([loadSheet(), loadHealth(), loadCounters()]);
}

// --- the day sheet ----------------------------------------------------------------
function dayRange() {
  const [y, m, d] = $('day').value.split('-').map(Number);
  const from = new Date(y, m - 1, d);
  const until = new Date(y, m - 1, d + 1);
  return { from, until };
}

const doctorName = (id) => state.doctors.find((d) => d.id === Number(id))?.name ?? `Doctor ${id}`;

// A lapsed hold (FAILED, or PENDING past its expiry and not yet swept) is no
// appointment: the day sheet leaves it out.
const shown = (r) => r.status !== 'FAILED' &&
  !(r.status === 'PENDING' && r.expires_at && Date.parse(r.expires_at) <= Date.now());

// Rows { id, doctorId, doctor, patient, contact, status, expires_at, start } of the day.
async function appointments(from, until) {
  if (has('medreserve_appointments')) {
    const rows = await api(state.token, '/rpc/medreserve_appointments?' + query({
      from_time: from.toISOString(), until_time: until.toISOString(),
    }));
    return rows.filter(shown).map((r) => ({
      id: r.id ?? r.booking_id,
      doctorId: r.doctor_id,
      doctor: r.doctor_name ?? (typeof r.doctor === 'string' ? r.doctor : doctorName(r.doctor_id)),
      patient: r.patient_name,
      contact: [r.patient_email, r.patient_phone].filter(Boolean).join(', '),
      status: r.status,
      expires_at: r.expires_at,
      start: new Date(r.starts_at ?? r.start_time),
    }));
  }
  // medreserve 1.1: the bookings whose first slot starts that day, read
  // through PostgREST's second schema (admins may read the tables).
  const rows = await api(state.token, '/bookings?' + query({
    select: 'id,patient_name,patient_email,status,expires_at,slots!inner(start_time,doctor_id)',
    'slots.start_time': `gte.${from.toISOString()}`,
    'status': 'neq.FAILED',
    order: 'id',
  }) + '&' + query({ 'slots.start_time': `lt.${until.toISOString()}` }), { profile: 'medreserve' });
  return rows.filter(shown).map((r) => ({
    id: r.id,
    doctorId: r.slots.doctor_id,
    doctor: doctorName(r.slots.doctor_id),
    patient: r.patient_name,
    contact: r.patient_email || '',
    status: r.status,
    expires_at: r.expires_at,
    start: new Date(r.slots.start_time),
  }));
}

const STATUS = {
  CONFIRMED: 'Confirmed', PENDING: 'Held', CANCELLED: 'Cancelled', FAILED: 'Hold lapsed',
  ARRIVED: 'Checked in', NOSHOW: 'No-show', FULFILLED: 'Attended',
};
function statusOf(r) {
  if (r.status === 'PENDING' && r.expires_at && Date.parse(r.expires_at) <= Date.now()) return 'Hold lapsed';
  return STATUS[r.status] || r.status;
}

async function loadSheet() {
  const box = $('sheet');
  const { from, until } = dayRange();
  box.setAttribute('aria-busy', 'true');
  let rows;
  try {
    rows = await appointments(from, until);
  } catch (err) {
    box.setAttribute('aria-busy', 'false');
    return fail(err);
  }
  rows.sort((a, b) => a.start - b.start || a.id - b.id);
  const doctors = [...state.doctors];
  for (const r of rows) {
    if (!doctors.some((d) => d.id === r.doctorId)) doctors.push({ id: r.doctorId, name: r.doctor });
  }
  put(box,
    el('h3', { class: 'sheet-day' }, fmtDay(from)),
    ...doctors.map((d) => {
      const mine = rows.filter((r) => r.doctorId === d.id);
      return el('div', { class: 'doctor-sheet', 'data-doctor-id': d.id },
        el('h4', {}, d.name, d.specialization ? el('span', { class: 'muted' }, ` · ${d.specialization}`) : null,
          el('span', { class: 'muted' }, ` · ${mine.length} appointment${mine.length === 1 ? '' : 's'}`)),
        mine.length === 0 ? el('p', { class: 'muted' }, 'No appointments.') :
          el('table', {},
            el('caption', { class: 'visually-hidden' }, `Appointments of ${d.name}`),
            el('thead', {}, el('tr', {},
              el('th', { scope: 'col' }, 'Time'), el('th', { scope: 'col' }, 'Patient'),
              el('th', { scope: 'col' }, 'Contact'), el('th', { scope: 'col' }, 'Status'),
              el('th', { scope: 'col' }, el('span', { class: 'visually-hidden' }, 'Actions')))),
            el('tbody', {}, mine.map((r) => el('tr', { 'data-booking-id': r.id },
              el('td', { 'data-label': 'Time' }, fmtTime(r.start)),
              el('td', { 'data-label': 'Patient' }, r.patient),
              el('td', { 'data-label': 'Contact' }, r.contact),
              el('td', { 'data-label': 'Status' },
                el('span', { class: `badge ${String(r.status).toLowerCase()}` }, statusOf(r))),
              el('td', { class: 'actions' }, actionsFor(r)))))));
    }));
  box.setAttribute('aria-busy', 'false');
}

function actionsFor(r) {
  const live = r.status === 'CONFIRMED' ||
    (r.status === 'PENDING' && r.expires_at && Date.parse(r.expires_at) > Date.now());
  const who = `${r.patient} at ${fmtTime(r.start)}`;
  const button = (label, fn, cls) =>
    el('button', { type: 'button', class: cls, 'aria-label': `${label}: ${who}`, onclick: fn }, label);
  return [
    r.status === 'CONFIRMED' && has('medreserve_check_in') &&
      button('Check in', () => act(r, 'medreserve_check_in', `Checked in: ${who}.`)),
    // a no-show can be told only once the appointment has begun
    r.status === 'CONFIRMED' && has('medreserve_mark_no_show') && r.start.getTime() <= Date.now() &&
      button('No-show', () => act(r, 'medreserve_mark_no_show', `Marked as a no-show: ${who}.`), 'secondary'),
    r.status === 'ARRIVED' && has('medreserve_complete') && r.start.getTime() <= Date.now() &&
      button('Done', () => act(r, 'medreserve_complete', `Visit done: ${who}.`)),
    live && button('Cancel', () => {
      if (window.confirm(`Cancel the appointment of ${who} with ${r.doctor}?`)) {
        act(r, 'medreserve_cancel', `Cancelled: ${who}.`);
      }
    }, 'secondary'),
  ];
}

async function act(r, fn, done) {
  try {
    await rpc(state.token, fn, { booking_id: r.id });
  } catch (err) {
    fail(err);
    return loadSheet();
  }
  ok(done);
  await refresh();
}

// --- health and counters ------------------------------------------------------------
const dl = (pairs) => el('dl', { class: 'facts' },
  pairs.filter(([, v]) => v !== undefined).flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v ?? '–')]));

async function loadHealth() {
  let h;
  try {
    h = await api(state.token, '/rpc/medreserve_health');
  } catch (err) {
    put($('health'), el('p', {}, explain(err)));
    return;
  }
  const job = h.expiry_job || {};
  put($('health'),
    el('p', {}, 'Status: ', el('span', { class: `badge health-${h.status}`, id: 'health-status' }, h.status)),
    dl([
      ['medreserve version', h.version],
      ['Sweep of lapsed holds', job.scheduled ? `pg_cron job ${job.job_id}, ${job.schedule}${job.active === false ? ' (inactive)' : ''}`
        : 'not scheduled'],
      ['Last sweep', job.last_run_at ? `${new Date(job.last_run_at).toLocaleString()} (${job.last_run_status})` : 'not yet'],
      ['Overdue holds', String(h.overdue_holds)],
      ['Counters', h.metrics_available ? 'available' : 'not available (medreserve is not preloaded)'],
    ]),
    (h.problems || []).length ? el('ul', { class: 'problems' }, h.problems.map((p) =>
      el('li', {}, typeof p === 'string' ? p : JSON.stringify(p)))) : null);
}

async function loadCounters() {
  let s;
  try {
    s = await api(state.token, '/rpc/medreserve_stats');
  } catch (err) {
    put($('counters'), el('p', {}, explain(err)));
    return;
  }
  if (Array.isArray(s)) s = s[0] || {};
  // medreserve_counters() has every counter (medreserve_stats() the first ten)
  try {
    const [c] = await api(state.token, '/rpc/medreserve_counters');
    if (c) s = { ...c, ...s };
  } catch {
    // the stats row above is enough
  }
  const n = (v) => (v === null || v === undefined ? '–' : String(v));
  // [label, key] pairs of the figures this server returns (newer ones may be missing)
  const present = (pairs) => pairs.filter(([, key]) => key in s).map(([label, key]) => [label, n(s[key])]);
  put($('counters'),
    el('h3', {}, 'Now'),
    dl([
      ['Doctors', n(s.doctors)], ['Future slots', n(s.future_slots)], ['Free future slots', n(s.free_future_slots)],
      // seats (group sessions) and the appointment's life, where the server has them (1.2)
      ...present([['Future seats', 'future_seats'], ['Free future seats', 'free_future_seats']]),
      ['Holds', n(s.pending_bookings)], ['Confirmed', n(s.confirmed_bookings)],
      ...present([['Arrived', 'arrived_bookings'], ['Visited', 'fulfilled_bookings'], ['Did not come', 'no_show_bookings']]),
      ['Cancelled', n(s.cancelled_bookings)], ['Lapsed holds', n(s.failed_bookings)],
    ]),
    el('h3', {}, s.stats_reset ? `Since ${new Date(s.stats_reset).toLocaleString()}` : 'Since the server started'),
    s.metrics_available ? dl([
      ['Bookings confirmed', n(s.bookings_confirmed)], ['Holds taken', n(s.holds_taken)],
      ['Holds confirmed', n(s.holds_confirmed)], ['Holds expired', n(s.holds_expired)],
      ['Lapsed holds released by a booking', n(s.holds_released_lazily)],
      ['Cancellations', n(s.cancellations)], ['Refused: slot taken', n(s.refused_slot_taken)],
      ['Refused: not found', n(s.refused_not_found)], ['Refused: invalid input', n(s.refused_invalid_input)],
      ['Refused: state conflict', n(s.refused_state_conflict)],
      // counters of medreserve 1.2's appointment life, where the server has them
      ...present([['Check-ins', 'check_ins'], ['Visits done', 'fulfilled'], ['No-shows', 'no_shows'],
        ['Reschedules', 'reschedules'], ['Late cancellations', 'late_cancellations'],
        ['Refused: idempotency key reused', 'refused_key_reused'], ['Refused: over a limit', 'refused_over_limit']]),
    ]) : el('p', {}, 'Counters need medreserve in shared_preload_libraries.'));
}

// --- wiring ---------------------------------------------------------------------------
document.addEventListener('DOMContentLoaded', () => {
  $('sign-in-form').addEventListener('submit', (e) => {
    e.preventDefault();
    say($('alert'), '');
    start($('token').value.trim());
  });
  $('sign-out').addEventListener('click', () => {
    signOut();
    say($('status'), 'You are signed out.', 'ok');
  });
  $('day-form').addEventListener('submit', (e) => { e.preventDefault(); loadSheet(); });
  $('today').addEventListener('click', () => { $('day').value = dayKey(new Date()); loadSheet(); });
  const step = (days) => {
    const { from } = dayRange();
    $('day').value = dayKey(new Date(from.getFullYear(), from.getMonth(), from.getDate() + days));
    loadSheet();
  };
  $('prev-day').addEventListener('click', () => step(-1));
  $('next-day').addEventListener('click', () => step(1));

  const token = takeToken(TOKEN_KEY);
  if (token) start(token);
  else showSignIn('You are not signed in. Please sign in with a front-desk token.');
});
