// Shared by the patient page and the front desk: the signed-in token, calls to
// PostgREST behind /api/, and error answers turned into sentences for people.
// No build step and no framework: an ES module the pages import.

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || null;
    this.details = (body && body.details) || null;
    this.hint = (body && body.hint) || null;
  }
}

// --- the token ------------------------------------------------------------------
// serve.sh prints page addresses ending in #token=...; the token moves to
// sessionStorage (per tab, gone when the tab closes) and out of the address bar.
export function takeToken(storageKey) {
  const match = /(?:^#|&)token=([A-Za-z0-9._-]+)/.exec(location.hash);
  if (match) {
    sessionStorage.setItem(storageKey, match[1]);
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem(storageKey);
}

export function setToken(storageKey, token) {
  if (token) sessionStorage.setItem(storageKey, token);
  else sessionStorage.removeItem(storageKey);
}

// The token's claims (not verified here: PostgREST verifies every call).
export function claimsOf(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(Array.from(atob(part),
      (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).join(''));
    const claims = JSON.parse(json);
    return claims && typeof claims === 'object' ? claims : null;
  } catch {
    return null;
  }
}

// --- calls ----------------------------------------------------------------------
// api(token, path, {method, body, profile}): the parsed JSON answer, or an ApiError.
// profile 'medreserve' reads the tables PostgREST exposes as its second schema.
export async function api(token, path, { method = 'GET', body, profile } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (profile) headers[method === 'GET' ? 'Accept-Profile' : 'Content-Profile'] = profile;
  let response;
  try {
    response = await fetch(`/api${path}`, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, null);
  }
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  if (!response.ok) throw new ApiError(response.status, json);
  return json;
}

export const rpc = (token, name, args = {}) =>
  api(token, `/rpc/${name}`, { method: 'POST', body: args });

export function query(params) {
  return Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
}

// Which API functions this token may call, from PostgREST's OpenAPI root
// (it lists what the role has privileges on): lets the pages use functions
// of newer medreserve versions where the server has them.
export async function features(token) {
  try {
    const root = await api(token, '/');
    return new Set(Object.keys((root && root.paths) || {})
      .filter((p) => p.startsWith('/rpc/')).map((p) => p.slice(5)));
  } catch {
    return new Set();
  }
}

// --- errors for people ----------------------------------------------------------
// The SQLSTATE decides (it is medreserve's API); the message adds the case.
export function explain(err) {
  if (!(err instanceof ApiError)) return 'Something went wrong in this page. Please reload it.';
  const m = err.message || '';
  if (err.status === 0) return "The clinic's server cannot be reached. Check your connection and try again.";
  if (err.status === 401) {
    return /expired/i.test(m)
      ? 'Your sign-in has expired. Please sign in again.'
      : 'You are not signed in. Please sign in to continue.';
  }
  switch (err.code) {
    case '23505': return 'Sorry, someone else has just taken this time. Please choose another one.';
    case '23P01': return 'This would overlap another appointment time.';
    case 'PT409':
      if (/has expired/.test(m)) return 'Your hold on this time has expired. Please choose a time again.';
      if (/already started/.test(m)) return 'This time has already started. Please choose a later one.';
      if (/cannot be cancelled/.test(m)) return 'This appointment can no longer be cancelled.';
      if (/is not pending/.test(m)) return 'This appointment was already confirmed or cancelled.';
      return `This cannot be done now: ${m}.`;
    case 'PT404': return 'We could not find this appointment or time. It may have been removed. Please reload.';
    case '42501': return `You are not allowed to do this (${m}).`;
    case '25006': return "The clinic's system accepts no changes at the moment. Please try again later.";
    case '55000': return `The clinic's server is not set up for this: ${m}.`;
    default: break;
  }
  if (err.code && err.code.startsWith('22')) {
    return `Please check what you entered: ${m}.${err.hint ? ' ' + err.hint : ''}`;
  }
  if (err.status >= 500) return "Something went wrong at the clinic's server. Please try again in a moment.";
  return `The request was refused: ${m}.`;
}

// --- small DOM helpers ----------------------------------------------------------
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (v === true) node.setAttribute(k, '');
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

// Replace a node's children, skipping the absent (null, undefined, false) ones.
export function put(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

// Messages: role="alert" for what went wrong, role="status" for what went well.
export function say(region, text, kind = 'info') {
  region.textContent = '';
  region.className = `message ${kind}`;
  if (text) region.append(el('p', {}, text));
  region.hidden = !text;
}

export const fmtDay = (d) => d.toLocaleDateString(undefined, { weekday: 'long', day: 'numeric', month: 'long' });
export const fmtTime = (d) => d.toLocaleTimeString(undefined, { hour: 'numeric', minute: '2-digit' });
export const fmtWhen = (d) => `${fmtDay(d)}, ${fmtTime(d)}`;
export const dayKey = (d) =>
  `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
