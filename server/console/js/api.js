// The console's one way to the server: the documented REST API under
// /api/v1, with a bearer access token held in memory only. The refresh token
// lives in an HttpOnly cookie the page cannot read (docs/console.md); the
// cookie routes /api/v1/auth/console/* turn it into access tokens.

const BASE = '/api/v1';
const DEVICE_KEY = 'kam.console.device';

let accessToken = null;
let expiresAt = 0;
const loggedOutListeners = [];

/** A problem answered by the API (RFC 9457 problem details). */
export class Problem extends Error {
  constructor(status, body) {
    super(body && body.detail ? body.detail : `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || `http_${status}`;
    this.title = (body && body.title) || '';
    this.detail = (body && body.detail) || '';
    this.violations = (body && body.violations) || [];
  }
}

/** This browser's device id: not a secret, one console session per browser. */
export function deviceId() {
  let id = localStorage.getItem(DEVICE_KEY);
  if (!id) {
    const bytes = crypto.getRandomValues(new Uint8Array(12));
    id = 'console-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    localStorage.setItem(DEVICE_KEY, id);
  }
  return id;
}

/** Calls `listener` when the session ends (expired, revoked, logged out). */
export function onLoggedOut(listener) {
  loggedOutListeners.push(listener);
}

function take(session) {
  accessToken = session.access_token;
  expiresAt = Date.now() + session.expires_in * 1000;
}

function dropSession() {
  accessToken = null;
  expiresAt = 0;
  for (const listener of loggedOutListeners) listener();
}

async function readProblem(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return new Problem(response.status, body);
}

async function sessionCall(action, body) {
  const headers = { 'X-KAM-Console': '1' };
  if (body) headers['Content-Type'] = 'application/json';
  if (action === 'logout' && accessToken) headers.Authorization = `Bearer ${accessToken}`;
  const response = await fetch(`${BASE}/auth/console/${action}`, {
    method: 'POST',
    headers,
    credentials: 'same-origin',
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!response.ok) throw await readProblem(response);
  return response.status === 204 ? null : response.json();
}

/** Logs in; the refresh token goes to the cookie. */
export async function login(username, password) {
  take(await sessionCall('login', { username, password, device_id: deviceId() }));
}

async function refreshNow(force) {
  if (!force && accessToken && Date.now() < expiresAt - 30_000) return true;
  try {
    take(await sessionCall('refresh'));
    return true;
  } catch (problem) {
    if (problem instanceof Problem && (problem.status === 401 || problem.status === 403)) {
      accessToken = null;
      return false;
    }
    throw problem;
  }
}

/**
 * Gets an access token from the cookie (a page load, or one about to
 * expire). Tabs take turns (Web Locks), since each refresh token works once.
 */
export async function resume(force = false) {
  if (navigator.locks) {
    return navigator.locks.request('kam-console-refresh', () => refreshNow(force));
  }
  return refreshNow(force);
}

/** Ends the session on the server and forgets the token. */
export async function logout() {
  try {
    await sessionCall('logout');
  } finally {
    dropSession();
  }
}

function url(path, query) {
  const target = new URL(BASE + path, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === '') continue;
    if (Array.isArray(value)) value.forEach((v) => target.searchParams.append(key, v));
    else target.searchParams.set(key, value);
  }
  return target.pathname + target.search;
}

/**
 * One API call. Answers `{ data, etag, status }`; throws a Problem for any
 * 4xx/5xx. An expired access token is renewed once from the cookie.
 * Options: query, body (JSON), ifMatch, contentType (`merge-patch` for
 * PATCH bodies).
 */
export async function call(method, path, options = {}) {
  for (let attempt = 0; ; attempt++) {
    if (!accessToken || Date.now() > expiresAt - 30_000) {
      if (!(await resume())) {
        dropSession();
        throw new Problem(401, { code: 'session_ended', detail: 'log in again' });
      }
    }
    const headers = { Authorization: `Bearer ${accessToken}`, Accept: 'application/json' };
    if (options.body !== undefined) {
      headers['Content-Type'] =
        options.contentType === 'merge-patch' ? 'application/merge-patch+json' : 'application/json';
    }
    if (options.ifMatch) headers['If-Match'] = options.ifMatch;
    const response = await fetch(url(path, options.query), {
      method,
      headers,
      body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
    });
    if (response.status === 401 && attempt === 0) {
      const problem = await readProblem(response);
      if (problem.code === 'invalid_token' && (await resume(true))) continue;
      dropSession();
      throw problem;
    }
    if (!response.ok) throw await readProblem(response);
    const data = response.status === 204 ? null : await response.json();
    return { data, etag: response.headers.get('ETag'), status: response.status };
  }
}

/** GET, answering the body alone. */
export async function get(path, query) {
  return (await call('GET', path, { query })).data;
}

/** Every page of a cursor-paged list, up to `max` items. */
export async function getAll(path, query = {}, max = 2000) {
  const items = [];
  let cursor;
  do {
    const page = await get(path, { ...query, cursor, limit: 500 });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return items;
}

/**
 * A merge patch of the record at `path`, held to `etag` (`If-Match`); with
 * no `etag`, to the ETag of a fresh read, so the write never silently
 * overwrites a change the page has not seen.
 */
export async function patch(path, body, etag) {
  const ifMatch = etag ?? (await call('GET', path)).etag;
  return call('PATCH', path, { body, ifMatch, contentType: 'merge-patch' });
}
