// The dashboard API client (FR-016, US4). Dependency-free ES module.
//
// Every call carries X-Amzn-Trace-Id: the caller's or RUM's when present, otherwise a fresh Root made
// here (one trace per API call; Sampled omitted so API Gateway's sampling rules decide, FR-035). The
// trace id the backend used is read back from the exposed response header when there is one.

import { TRACE_HEADER, findHeader, newTraceHeader, rootOf } from "./xray.js";

export class ApiError extends Error {
  constructor(status, body, traceId) {
    super(`API ${status}${body && body.error ? `: ${body.error}` : ""}`);
    this.status = status;
    this.body = body;
    this.traceId = traceId;
  }
}

export class ApiClient {
  /**
   * @param {string} baseUrl  e.g. the API Gateway stage URL
   * @param {object} [o]  headers, traceHeader (() => string|null; null leaves it to RUM), sampled, fetch
   */
  constructor(baseUrl, o = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.options = o;
    this.lastTraceId = null;
    this._fetch = o.fetch || globalThis.fetch.bind(globalThis);
  }

  async request(method, path, { body, headers = {}, signal } = {}) {
    const all = { Accept: "application/json", ...(this.options.headers || {}), ...headers };
    let trace = findHeader(all, TRACE_HEADER);
    if (!trace) {
      trace = this.options.traceHeader ? this.options.traceHeader() : newTraceHeader({ sampled: this.options.sampled });
      if (trace) all[TRACE_HEADER] = trace;
    }
    if (body !== undefined) all["Content-Type"] = "application/json";
    const response = await this._fetch(`${this.baseUrl}${path.startsWith("/") ? path : `/${path}`}`, {
      method, headers: all, body: body === undefined ? undefined : JSON.stringify(body), signal,
    });
    const traceId = rootOf(response.headers.get("x-amzn-trace-id")) || rootOf(trace);
    this.lastTraceId = traceId;
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = text; }
    if (!response.ok) throw new ApiError(response.status, data, traceId);
    return { status: response.status, data, traceId };
  }

  get(path, o) { return this.request("GET", path, o); }
  post(path, body, o) { return this.request("POST", path, { ...o, body }); }
}
