// Talking to the flaskou API from the browser.
//
// Authentication is the HttpOnly session cookie set by POST /api/v1/login with
// {"cookie": true}: no token ever reaches this code, and nothing is kept in
// localStorage or sessionStorage. Every request sends the cookie
// (credentials: "same-origin"), and every unsafe request carries
// X-Requested-With: XMLHttpRequest, without which the server answers 403.

const BASE = "/api/v1";
const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const NETWORK_MESSAGE = "Could not reach the server. Check your connection and try again.";

let unauthorizedHandler = null;

/** Called (once per failing request) when an API call answers 401. */
export function onUnauthorized(handler) {
  unauthorizedHandler = handler;
}

/** A failed API call, carrying the RFC 9457 problem details when there are some. */
export class ApiError extends Error {
  constructor(status, problem = {}, { retryAfter = null } = {}) {
    const detail =
      (typeof problem.detail === "string" && problem.detail) ||
      (typeof problem.title === "string" && problem.title) ||
      (status === 0 ? NETWORK_MESSAGE : `The request failed (HTTP ${status}).`);
    super(detail);
    this.name = "ApiError";
    this.status = status;
    this.title = problem.title || "";
    // The problem type URI, e.g. ".../problems/invalid-token" (see problemIs).
    this.type = typeof problem.type === "string" ? problem.type : "";
    this.detail = detail;
    this.errors = problem.errors && typeof problem.errors === "object" ? problem.errors : {};
    // The whole problem, extension members included (e.g. mfa_token and methods).
    this.problem = problem;
    this.retryAfter = retryAfter;
    // Set when the error was already dealt with (a 401 sent the user to /login),
    // so views do not also show it.
    this.handled = false;
  }
}

function buildUrl(path, query) {
  let url = BASE + path;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
    }
    const text = params.toString();
    if (text) url += (url.includes("?") ? "&" : "?") + text;
  }
  return url;
}

function parseProblem(text) {
  if (!text) return {};
  try {
    const value = JSON.parse(text);
    return value && typeof value === "object" ? value : {};
  } catch {
    return {};
  }
}

function failure(status, text, retryAfter, handle401) {
  const error = new ApiError(status, parseProblem(text), { retryAfter });
  if (status === 401 && handle401 && unauthorizedHandler) {
    error.handled = unauthorizedHandler(error) === true;
  }
  return error;
}

/**
 * One API call. Answers the parsed JSON body (null for 204), or throws ApiError.
 * `handle401: false` keeps a 401 from sending the user to the login page
 * (for the login call itself and for "am I logged in?" checks).
 */
export async function request(method, path, { json, query, handle401 = true, signal } = {}) {
  const headers = { Accept: "application/json, application/problem+json" };
  if (UNSAFE.has(method)) headers["X-Requested-With"] = "XMLHttpRequest";
  const init = { method, headers, credentials: "same-origin", cache: "no-store", signal };
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  let response;
  let text;
  try {
    response = await fetch(buildUrl(path, query), init);
    text = await response.text();
  } catch (error) {
    if (error && error.name === "AbortError") throw error;
    throw new ApiError(0);
  }
  if (!response.ok) {
    throw failure(response.status, text, response.headers.get("Retry-After"), handle401);
  }
  if (response.status === 204 || !text) return null;
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(response.status, { detail: "The server sent an answer that is not JSON." });
  }
}

export const api = {
  get: (path, options) => request("GET", path, options),
  post: (path, options) => request("POST", path, options),
  patch: (path, options) => request("PATCH", path, options),
  delete: (path, options) => request("DELETE", path, options),
};

/** Whether an ApiError is the problem of that kind ("invalid-token", "email-unverified"). */
export function problemIs(error, kind) {
  return Boolean(error && typeof error.type === "string" && error.type.endsWith(`/${kind}`));
}

/** A path segment (username, role name, id) made safe for a URL. */
export function seg(value) {
  return encodeURIComponent(String(value));
}

/**
 * Upload one file as multipart field `file`, with progress.
 * fetch() cannot report upload progress, so this uses XMLHttpRequest.
 * Answers { promise, abort }; the promise resolves to the stored File or
 * rejects with ApiError (status 0 and detail "Upload cancelled." when aborted).
 */
export function uploadFile(file, { onProgress } = {}) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open("POST", buildUrl("/files"));
    xhr.withCredentials = true;
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.setRequestHeader("Accept", "application/json, application/problem+json");
    xhr.upload.onprogress = (event) => {
      if (onProgress) onProgress(event.loaded, event.lengthComputable ? event.total : file.size);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        const body = parseProblem(xhr.responseText);
        resolve(body);
      } else {
        reject(failure(xhr.status, xhr.responseText, xhr.getResponseHeader("Retry-After"), true));
      }
    };
    xhr.onerror = () => reject(new ApiError(0));
    xhr.onabort = () => reject(new ApiError(0, { detail: "Upload cancelled." }));
    xhr.ontimeout = () => reject(new ApiError(0, { detail: "The upload timed out." }));
    const body = new FormData();
    body.append("file", file, file.name);
    xhr.send(body);
  });
  return { promise, abort: () => xhr.abort() };
}

/** Every item of a paginated list, following next_cursor to the end. */
export async function allPages(path, query = {}) {
  const items = [];
  let cursor = null;
  do {
    const page = await api.get(path, { query: { ...query, limit: 100, cursor } });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}
