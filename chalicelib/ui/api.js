// The Management API, called from the browser. The key lives in this tab's sessionStorage and
// goes only in the X-Api-Key header of requests to this same API (relative URLs, so a deployed
// stage prefix is kept).

const STORAGE = 'vigil.api_key';
const BASE = 'api/v3/';

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }

  // "json validation error: timeout is too small" names the field it is about.
  get field() {
    const match = /^json validation error: (?:an item in ')?([a-z_]+)/.exec(this.message);
    return match ? match[1] : null;
  }
}

export const session = {
  get key() { return sessionStorage.getItem(STORAGE); },
  set key(value) { sessionStorage.setItem(STORAGE, value); },
  clear() { sessionStorage.removeItem(STORAGE); },
};

export async function call(method, path, body) {
  const headers = { 'X-Api-Key': session.key || '' };
  const init = { method, headers, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let reply;
  try {
    reply = await fetch(BASE + path, init);
  } catch (error) {
    throw new ApiError(0, `cannot reach the API (${error.message})`);
  }
  const text = await reply.text();
  if (reply.ok) return text && /json/.test(reply.headers.get('Content-Type') || '') ? JSON.parse(text) : text;
  throw new ApiError(reply.status, errorText(reply, text));
}

function errorText(reply, text) {
  try {
    const doc = JSON.parse(text);
    if (doc && typeof doc.error === 'string') return doc.error;
  } catch { /* not JSON: the text itself is the message */ }
  if (text.trim()) return text.trim();
  if (reply.status === 403) return 'forbidden (the project may be at its check limit)';
  return `HTTP ${reply.status} ${reply.statusText}`.trim();
}

export const api = {
  checks: () => call('GET', 'checks/').then((doc) => doc.checks),
  check: (id) => call('GET', `checks/${encodeURIComponent(id)}`),
  pings: (id) => call('GET', `checks/${encodeURIComponent(id)}/pings/`).then((doc) => doc.pings),
  body: (id, n) => call('GET', `checks/${encodeURIComponent(id)}/pings/${n}/body`),
  // Every flip the API keeps (93 days), so the state at the start of a 30-day window is known.
  flips: (id) => call('GET', `checks/${encodeURIComponent(id)}/flips/`)
    .then((doc) => (Array.isArray(doc) ? doc : doc.flips)),
  channels: () => call('GET', 'channels/').then((doc) => doc.channels),
  create: (spec) => call('POST', 'checks/', spec),
  update: (id, spec) => call('POST', `checks/${encodeURIComponent(id)}`, spec),
  remove: (id) => call('DELETE', `checks/${encodeURIComponent(id)}`),
  pause: (id) => call('POST', `checks/${encodeURIComponent(id)}/pause`),
  resume: (id) => call('POST', `checks/${encodeURIComponent(id)}/resume`),
};
