// JSON API client: same-origin session cookie, CSRF header on state-changing requests, JSON errors turned
// into APIError, and a redirect to the sign-in page when the session has ended.

let csrf = "";

// setCSRF stores the token from /api/me or /api/login for the X-CSRF-Token header.
export function setCSRF(token) { csrf = token || ""; }

// APIError is a non-2xx answer: status, the server's error message and its detail.
export class APIError extends Error {
  constructor(status, message, detail) {
    super(message);
    this.status = status;
    this.detail = detail;
  }
}

// toLogin sends the browser to the sign-in page and back here afterwards.
export function toLogin() {
  const next = location.pathname + location.search + location.hash;
  location.assign("/login?next=" + encodeURIComponent(next));
}

// api performs a request and returns the decoded JSON body (null when there is none).
export async function api(path, { method = "GET", body, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") {
    headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) headers["Content-Type"] = "application/json";
  }
  const res = await fetch(path, {
    method, headers, signal, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401) {
    toLogin();
    throw new APIError(401, "Your session has ended; sign in again.");
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) {
    const msg = (data && data.error) || `${method} ${path}: HTTP ${res.status}`;
    throw new APIError(res.status, msg, data && data.detail);
  }
  return data;
}

// get fetches JSON.
export const get = (path, opts) => api(path, opts);
// post sends JSON.
export const post = (path, body) => api(path, { method: "POST", body: body === undefined ? {} : body });
// del sends DELETE.
export const del = (path) => api(path, { method: "DELETE" });

// queryRange runs a Prometheus range query over the last `seconds` and returns its result matrix.
export async function queryRange(expr, seconds, points = 240, signal) {
  const end = Date.now() / 1000;
  const start = end - seconds;
  const step = Math.max(1, Math.ceil(seconds / points));
  const qs = new URLSearchParams({ query: expr, start: start.toFixed(3), end: end.toFixed(3), step: `${step}s` });
  const data = await get(`/api/v1/query_range?${qs}`, { signal });
  if (!data || data.status !== "success") throw new APIError(0, (data && data.error) || "query failed");
  return { result: data.data.result || [], start, end, step };
}
