// The patient page: choose a doctor, hold a free time (with a countdown),
// confirm it, see and cancel one's appointments.  Talks to medreserve through
// PostgREST at /api/ with the patient's token.
import {
  api, rpc, query, features, explain, claimsOf, takeToken, setToken,
  el, put, say, fmtDay, fmtTime, fmtWhen, dayKey,
} from './api.js';

const TOKEN_KEY = 'medreserve.patient.token';
const NAME_KEY = 'medreserve.patient.name';
const $ = (id) => document.getElementById(id);

const state = {
  token: null,
  claims: null,
  features: new Set(),
  doctors: [],
  hold: null,          // { booking, slot, doctor, deadline, timer, over }
  slotsRequest: 0,
  day: null,           // the day whose times are shown (YYYY-MM-DD)
};

const alertBox = () => $('alert');
const statusBox = () => $('status');
function fail(err) {
  say(statusBox(), '');
  say(alertBox(), explain(err), 'error');
  if (err && err.status === 401) signOut(explain(err));
}
function ok(text) {
  say(alertBox(), '');
  say(statusBox(), text, 'ok');
}

// --- signing in -------------------------------------------------------------------
function showSignIn(reason) {
  $('app').hidden = true;
  $('sign-in').hidden = false;
  $('who').hidden = true;
  $('sign-out').hidden = true;
  if (reason) say(alertBox(), reason, 'error');
}

function signOut(reason) {
  stopHold();
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
  state.claims = claims;
  setToken(TOKEN_KEY, token);
  $('sign-in').hidden = true;
  $('app').hidden = false;
  $('who').hidden = false;
  $('who').textContent = claims.email ? `Signed in as ${claims.email}` : 'Signed in (no email)';
  $('sign-out').hidden = false;

  const email = $('patient-email');
  if (claims.email) {
    email.value = claims.email;
    email.readOnly = true;
    $('email-help').textContent = 'Appointments are made under the email you signed in with.';
  } else {
    email.readOnly = false;
    $('email-help').textContent = 'Optional. Sign in with your email to see and cancel your appointments here.';
  }
  $('patient-name').value = localStorage.getItem(NAME_KEY) || '';

  state.features = await features(token);
  try {
    state.doctors = await api(token, '/rpc/medreserve_list_doctors');
  } catch (err) {
    return fail(err);
  }
  fillDoctors();
  await Promise.all([loadSlots(), loadMine()]);
}

// --- doctors ------------------------------------------------------------------------
function fillDoctors() {
  const spec = $('specialization');
  const specs = [...new Set(state.doctors.map((d) => d.specialization).filter(Boolean))].sort();
  put(spec, el('option', { value: '' }, 'All specializations'),
    ...specs.map((s) => el('option', { value: s }, s)));
  fillDoctorList();
}

// With the cross-doctor search (medreserve_find_slots, 1.2) the first choice
// is "any doctor": the soonest free times of every matching doctor.
const ANY = 'any';
const searchAcross = () => state.features.has('medreserve_find_slots');

function fillDoctorList() {
  const spec = $('specialization').value;
  const list = state.doctors.filter((d) => !spec || d.specialization === spec);
  put($('doctor'),
    searchAcross() && el('option', { value: ANY }, spec ? `Any doctor (${spec})` : 'Any doctor'),
    ...list.map((d) =>
      el('option', { value: d.id }, d.specialization ? `${d.name} (${d.specialization})` : d.name)));
}

const doctorById = (id) => state.doctors.find((d) => d.id === Number(id));

// Free slots { id, start_time, duration_minutes, doctor } of the coming week.
async function freeSlots(choice, from, until) {
  if (choice === ANY) {
    const rows = await api(state.token, '/rpc/medreserve_find_slots?' + query({
      specialization: $('specialization').value || undefined,
      from_time: from.toISOString(), until_time: until.toISOString(), max_results: 1000,
    }));
    return rows.map((r) => ({
      id: r.slot_id, start_time: r.start_time,
      duration_minutes: Math.round((Date.parse(r.end_time) - Date.parse(r.start_time)) / 60000),
      doctor: doctorById(r.doctor_id) || { id: r.doctor_id, name: r.doctor_name },
    }));
  }
  const doctor = doctorById(choice);
  const rows = await api(state.token, '/rpc/medreserve_available_slots?' + query({
    doctor_id: doctor.id, from_time: from.toISOString(), until_time: until.toISOString(),
  }));
  return rows.map((r) => ({ ...r, doctor }));
}

// --- free times -------------------------------------------------------------------
async function loadSlots() {
  const box = $('slots');
  const choice = $('doctor').value;
  const doctor = choice === ANY ? null : doctorById(choice);
  if (choice !== ANY && !doctor) {
    put(box, el('p', {}, 'Choose a doctor to see free times.'));
    return;
  }
  // Answers can come back out of order when the doctor changes quickly: only
  // the latest request's answer is shown.
  const request = ++state.slotsRequest;
  box.setAttribute('aria-busy', 'true');
  const from = new Date();
  const until = new Date(from.getTime() + 7 * 86400e3);
  let slots;
  try {
    slots = await freeSlots(choice, from, until);
  } catch (err) {
    if (request !== state.slotsRequest) return;
    box.setAttribute('aria-busy', 'false');
    return fail(err);
  }
  if (request !== state.slotsRequest) return;
  box.dataset.doctorId = choice;
  const days = new Map();
  for (const s of slots) {
    const start = new Date(s.start_time);
    const key = dayKey(start);
    if (!days.has(key)) days.set(key, { date: start, slots: [] });
    days.get(key).slots.push({ ...s, start });
  }
  if (days.size === 0) {
    put(box, el('p', {}, `${doctor ? doctor.name : 'No doctor'} has no free times in the coming week.`));
  } else {
    // One day at a time: a row of day buttons, then that day's times.
    if (!days.has(state.day)) state.day = days.keys().next().value;
    const { date, slots: daySlots } = days.get(state.day);
    put(box,
      el('div', { class: 'days', role: 'group', 'aria-label': 'Day' },
        [...days.entries()].map(([key, d]) => el('button', {
          type: 'button', class: 'day-button', 'aria-pressed': String(key === state.day),
          'aria-label': `${fmtDay(d.date)}, ${d.slots.length} free`,
          onclick: () => { state.day = key; loadSlots(); },
        }, el('span', {}, d.date.toLocaleDateString(undefined, { weekday: 'short' })),
        el('strong', {}, d.date.toLocaleDateString(undefined, { day: 'numeric', month: 'short' }))))),
      el('h3', {}, fmtDay(date)),
      el('ul', { class: 'times' }, daySlots.map((s) => el('li', {},
        el('button', {
          type: 'button', class: 'time', 'data-slot-id': s.id,
          'aria-label': `${fmtWhen(s.start)} with ${s.doctor.name}, ${s.duration_minutes} minutes`,
          onclick: () => hold(s, s.doctor),
        }, fmtTime(s.start), doctor ? null : el('span', { class: 'with' }, s.doctor.name))))));
  }
  box.setAttribute('aria-busy', 'false');
}

// --- hold, countdown, confirm -------------------------------------------------------
function stopHold() {
  if (state.hold && state.hold.timer) clearInterval(state.hold.timer);
  state.hold = null;
  $('hold').hidden = true;
  $('hold-expired').hidden = true;
}

async function hold(slot, doctor) {
  const name = $('patient-name').value.trim();
  if (!name) {
    say(alertBox(), 'Please enter your full name first.', 'error');
    $('patient-name').focus();
    return;
  }
  const email = $('patient-email');
  if (!state.claims.email && email.value && !email.checkValidity()) {
    say(alertBox(), 'Please enter a valid email address, or leave it empty.', 'error');
    email.focus();
    return;
  }
  localStorage.setItem(NAME_KEY, name);
  // One hold at a time: give the previous one back.
  if (state.hold && !state.hold.over) await release(false);

  const args = { slot_id: slot.id, patient_name: name };
  if (!state.claims.email && email.value) args.patient_email = email.value.trim();
  let booking;
  try {
    booking = await rpc(state.token, 'medreserve_hold', args);
  } catch (err) {
    fail(err);
    if (['23505', 'PT409', 'PT404'].includes(err.code)) loadSlots();
    return;
  }
  say(alertBox(), '');
  say(statusBox(), '');
  // The server's clock says how long the hold lasts; this page counts it down
  // on its own clock, so the two need not agree on the time of day.
  const lasts = Date.parse(booking.expires_at) - Date.parse(booking.created_at);
  state.hold = { booking, slot, doctor, deadline: Date.now() + lasts, over: false };
  $('hold-what').textContent = `${fmtWhen(slot.start)} with ${doctor.name} is held for ${booking.patient_name}.`;
  $('hold-expired').hidden = true;
  $('confirm').disabled = false;
  $('hold').hidden = false;
  tick();
  state.hold.timer = setInterval(tick, 250);
  $('hold-title').scrollIntoView({ block: 'nearest' });
  $('confirm').focus();
  loadSlots();
}

function tick() {
  const h = state.hold;
  if (!h) return;
  const left = Math.max(0, h.deadline - Date.now());
  const secs = Math.ceil(left / 1000);
  $('countdown').textContent = `${Math.floor(secs / 60)}:${String(secs % 60).padStart(2, '0')}`;
  if (left === 0 && !h.over) holdLapsed();
}

function holdLapsed() {
  const h = state.hold;
  h.over = true;
  clearInterval(h.timer);
  h.timer = null;
  $('countdown').textContent = '0:00';
  $('confirm').disabled = true;
  const box = $('hold-expired');
  box.textContent = 'Your hold on this time has expired. Please choose a time again.';
  box.hidden = false;
  loadSlots();
}

async function confirmHold() {
  const h = state.hold;
  if (!h || h.over) return;
  $('confirm').disabled = true;
  try {
    await rpc(state.token, 'medreserve_confirm', { booking_id: h.booking.id });
  } catch (err) {
    if (err.code === 'PT409' && /has expired/.test(err.message)) {
      holdLapsed();
      return;
    }
    $('confirm').disabled = false;
    return fail(err);
  }
  stopHold();
  ok(`Your appointment is booked: ${fmtWhen(h.slot.start)} with ${h.doctor.name}.`);
  $('status').focus?.();
  await Promise.all([loadSlots(), loadMine()]);
}

// Give the hold back (a patient signed in with an email may cancel it; without
// one it simply lapses).
async function release(reload = true) {
  const h = state.hold;
  stopHold();
  if (h && !h.over && state.claims.email) {
    try {
      await rpc(state.token, 'medreserve_cancel', { booking_id: h.booking.id });
    } catch (err) {
      if (err.code !== 'PT409') fail(err);
    }
  }
  if (reload) {
    loadSlots();
    loadMine();
  }
}

// --- my appointments ------------------------------------------------------------------
const STATUS = {
  CONFIRMED: 'Confirmed', PENDING: 'Held, not confirmed', CANCELLED: 'Cancelled',
  FAILED: 'Hold lapsed', ARRIVED: 'Checked in', NOSHOW: 'Missed', FULFILLED: 'Attended',
};
const statusText = (s) => STATUS[s] || (s ? s.charAt(0) + s.slice(1).toLowerCase().replace(/_/g, ' ') : '');

// Rows { id, status, expires_at, start, doctor } from the newest API there is.
async function myAppointments() {
  if (state.features.has('medreserve_my_appointments')) {
    const now = Date.now();
    const rows = await api(state.token, '/rpc/medreserve_my_appointments?' + query({
      from_time: new Date(now - 90 * 86400e3).toISOString(),
      until_time: new Date(now + 366 * 86400e3).toISOString(),
    }));
    return rows.map((r) => ({
      id: r.id ?? r.booking_id, status: r.status, expires_at: r.expires_at,
      start: new Date(r.starts_at ?? r.start_time),
      doctor: r.doctor_name ?? doctorById(r.doctor_id)?.name ?? '',
    }));
  }
  // medreserve 1.1: bookings name their first slot; the slot says when and with whom.
  const bookings = await api(state.token, '/rpc/medreserve_my_bookings');
  if (bookings.length === 0) return [];
  const ids = [...new Set(bookings.map((b) => b.slot_id))];
  const slots = await api(state.token, '/slots?' + query({
    select: 'id,doctor_id,start_time,duration_minutes', id: `in.(${ids.join(',')})`,
  }), { profile: 'medreserve' });
  const byId = new Map(slots.map((s) => [s.id, s]));
  return bookings.map((b) => {
    const s = byId.get(b.slot_id);
    return {
      id: b.id, status: b.status, expires_at: b.expires_at,
      start: s ? new Date(s.start_time) : null,
      doctor: s ? doctorById(s.doctor_id)?.name ?? '' : '',
    };
  });
}

async function loadMine() {
  const box = $('mine');
  if (!state.claims.email) {
    put(box, el('p', {}, 'Sign in with your email to see your appointments here.'));
    return;
  }
  let rows;
  try {
    rows = await myAppointments();
  } catch (err) {
    return fail(err);
  }
  const now = Date.now();
  const live = (r) => r.status === 'CONFIRMED' || r.status === 'ARRIVED' ||
    (r.status === 'PENDING' && r.expires_at && Date.parse(r.expires_at) > now);
  const upcoming = rows.filter((r) => r.start && r.start.getTime() > now && live(r))
    .sort((a, b) => a.start - b.start);
  const other = rows.filter((r) => !upcoming.includes(r))
    .sort((a, b) => (b.start || 0) - (a.start || 0)).slice(0, 10);
  if (rows.length === 0) {
    put(box, el('p', {}, 'You have no appointments yet.'));
    return;
  }
  const item = (r, canCancel) => el('li', { class: 'appointment', 'data-booking-id': r.id },
    el('span', { class: 'when' }, r.start ? fmtWhen(r.start) : 'time unknown'),
    el('span', { class: 'doctor' }, r.doctor),
    el('span', { class: `badge ${String(r.status).toLowerCase()}` }, statusText(r.status)),
    canCancel && el('button', {
      type: 'button', class: 'secondary',
      'aria-label': `Cancel the appointment on ${r.start ? fmtWhen(r.start) : ''} with ${r.doctor}`,
      onclick: () => cancel(r),
    }, 'Cancel'));
  put(box,
    el('h3', {}, 'Coming up'),
    upcoming.length ? el('ul', { class: 'appointments' }, upcoming.map((r) => item(r, ['CONFIRMED', 'PENDING'].includes(r.status))))
      : el('p', {}, 'Nothing coming up.'),
    other.length ? el('h3', {}, 'Past and cancelled') : null,
    other.length ? el('ul', { class: 'appointments past' }, other.map((r) => item(r, false))) : null);
}

async function cancel(r) {
  if (!window.confirm(`Cancel your appointment on ${fmtWhen(r.start)} with ${r.doctor}?`)) return;
  try {
    await rpc(state.token, 'medreserve_cancel', { booking_id: r.id });
  } catch (err) {
    return fail(err);
  }
  if (state.hold && state.hold.booking.id === r.id) stopHold();
  ok(`Cancelled: ${fmtWhen(r.start)} with ${r.doctor}.`);
  await Promise.all([loadSlots(), loadMine()]);
}

// --- wiring ---------------------------------------------------------------------------
document.addEventListener('DOMContentLoaded', () => {
  $('sign-in-form').addEventListener('submit', (e) => {
    e.preventDefault();
    say(alertBox(), '');
    start($('token').value.trim());
  });
  $('sign-out').addEventListener('click', () => {
    signOut();
    say(statusBox(), 'You are signed out.', 'ok');
  });
  $('specialization').addEventListener('change', () => { fillDoctorList(); state.day = null; loadSlots(); });
  $('doctor').addEventListener('change', () => { state.day = null; loadSlots(); });
  $('confirm').addEventListener('click', confirmHold);
  $('release').addEventListener('click', () => release(true));

  const token = takeToken(TOKEN_KEY);
  if (token) start(token);
  else showSignIn('You are not signed in. Please sign in with the access token the clinic gave you.');
});
