// Server-Sent Events over fetch + ReadableStream (FR-032, FR-033, SC-015). Dependency-free ES module.
//
// Why not EventSource: it cannot send headers (WHATWG HTML §9.2), so neither RUM nor we could attach
// X-Amzn-Trace-Id. This client keeps EventSource's contract (readyState CONNECTING/OPEN/CLOSED, `open`,
// `message`, named events, `error`, lastEventId, the server's `retry:`) and adds:
//   - its own X-Amzn-Trace-Id when none was injected: a new Root per connection, and on reconnect the
//     previous connection's trace id plus a stable session id and a sequence number (FR-048);
//   - Last-Event-ID on reconnect (FR-081);
//   - four close/error classes (FR-118): `sentinel` (the server said `event: deadline`: reconnect at
//     once), `abnormal` (the body ended without it: wait 1–3 s), `network` (fetch or read failed, or a
//     5xx/503: exponential backoff with jitter, honouring Retry-After), `cancel` (close()/abort: stop).
//     A 4xx other than 408/429 is `fatal`: the client closes, as EventSource does.

import { TRACE_HEADER, findHeader, newTraceHeader, randomHex, rootOf } from "./xray.js";

export const CONNECTING = 0;
export const OPEN = 1;
export const CLOSED = 2;

/**
 * An incremental parser of the `text/event-stream` format (WHATWG HTML §9.2.6; FR-089, FR-099).
 * Pure and dependency-free, so it runs (and is tested) in Node as well as in the browser.
 *
 *   const p = new SSEParser((ev) => ..., { onRetry, onId });
 *   p.feedBytes(chunk)   // Uint8Array; UTF-8 decoded with {stream: true}, so a character split across
 *                        // chunks is never mangled (FR-099)
 *   p.feed(text)         // or already-decoded text
 *   p.end()              // the stream ended: an event without its blank line is discarded, not dispatched
 *
 * Lines end in CRLF, LF or a lone CR, in any mix, also when a CRLF is split across chunks. `:` lines are
 * comments. `data` lines accumulate, joined by "\n". `retry` is applied at once when it is ASCII digits
 * only, otherwise ignored. `id` sets the last-event-id buffer unless it contains NUL (then it is ignored);
 * the buffer becomes the stream's last event id (`onId`) when an event is dispatched -- also when the
 * event has no data -- never for an event the stream did not finish (FR-081: a resume must not skip it).
 * Dispatched events are `{type, data, lastEventId}`; `type` defaults to "message". Pass the previous
 * connection's id as `lastEventId` so it carries over a reconnect, as EventSource's does.
 */
export class SSEParser {
  constructor(onEvent, { onRetry = () => {}, onId = () => {}, lastEventId = "" } = {}) {
    this.onEvent = onEvent;
    this.onRetry = onRetry;
    this.onId = onId;
    this.buffer = "";
    this.lastEventId = lastEventId; // as of the last dispatch; kept across reconnects like EventSource's
    this._idBuffer = lastEventId;   // the spec's "last event ID buffer"
    this._skipLF = false;       // the previous chunk ended in CR: a leading LF belongs to it
    this._started = false;      // a leading BOM is stripped once
    this._decoder = null;
    this._reset();
  }

  _reset() {
    this.data = [];
    this.type = "";
  }

  /** Feed raw bytes of the body. */
  feedBytes(bytes) {
    this._decoder ??= new TextDecoder("utf-8");
    this.feed(this._decoder.decode(bytes, { stream: true }));
  }

  /** Feed decoded text; complete lines are processed, a partial line waits for the next chunk. */
  feed(text) {
    if (!this._started && text.length > 0) {
      this._started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this._skipLF && text.length > 0) {
      this._skipLF = false;
      if (text[0] === "\n") text = text.slice(1);
    }
    let buf = this.buffer + text;
    let pos = 0;
    for (;;) {
      let i = pos;
      while (i < buf.length && buf[i] !== "\n" && buf[i] !== "\r") i += 1;
      if (i === buf.length) break;
      const line = buf.slice(pos, i);
      if (buf[i] === "\r") {
        if (i + 1 < buf.length) pos = buf[i + 1] === "\n" ? i + 2 : i + 1;
        else { pos = i + 1; this._skipLF = true; } // a lone CR ends the line now; an LF may follow
      } else {
        pos = i + 1;
      }
      this._line(line);
    }
    this.buffer = buf.slice(pos);
  }

  /** The stream ended: flush the decoder, discard any unfinished line and event (never dispatched). */
  end() {
    if (this._decoder) {
      const tail = this._decoder.decode();
      if (tail) this.feed(tail);
    }
    this.buffer = "";
    this._skipLF = false;
    this._reset();
  }

  _line(line) {
    if (line === "") return this._dispatch();
    if (line[0] === ":") return; // comment
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value[0] === " ") value = value.slice(1);
    switch (field) {
      case "event": this.type = value; break;
      case "data": this.data.push(value); break;
      case "id":
        if (!value.includes("\0")) this._idBuffer = value;
        break;
      case "retry":
        if (/^[0-9]+$/.test(value)) this.onRetry(parseInt(value, 10));
        break;
      default: break; // unknown fields are ignored
    }
  }

  _dispatch() {
    if (this._idBuffer !== this.lastEventId) {
      this.lastEventId = this._idBuffer;
      this.onId(this.lastEventId);
    }
    if (this.data.length === 0) { this._reset(); return; }
    const event = { type: this.type || "message", data: this.data.join("\n"), lastEventId: this.lastEventId };
    this._reset();
    this.onEvent(event);
  }
}

const sleep = (ms, signal) => new Promise((resolve) => {
  if (signal?.aborted) return resolve();
  const t = setTimeout(resolve, ms);
  signal?.addEventListener("abort", () => { clearTimeout(t); resolve(); }, { once: true });
});

export class SSEClient extends EventTarget {
  /**
   * @param {string} url  the stream URL (query filters allowed)
   * @param {object} [o]
   * @param {object} [o.headers]        extra headers (e.g. Authorization); an X-Amzn-Trace-Id here wins
   * @param {() => (string|null)} [o.traceHeader]  makes the header per connection; return null to leave
   *                                    it to RUM. Default: a new Root per connection.
   * @param {boolean} [o.sampled]       the Sampled flag of headers made here (default: omitted)
   * @param {Promise} [o.ready]         wait for this (e.g. RUM's FetchPlugin) before the first connect,
   *                                    at most `readyTimeoutMs` (FR-148)
   * @param {number} [o.baseDelayMs=1000] [o.maxDelayMs=30000] [o.maxRetries=Infinity] backoff
   * @param {string} [o.sessionId]      stable across reconnects (default: random)
   * @param {typeof fetch} [o.fetch]
   */
  constructor(url, o = {}) {
    super();
    this.url = url;
    this.options = o;
    this.readyState = CONNECTING;
    this.lastEventId = o.lastEventId || "";
    this.retryMs = 3000;
    this.sessionId = o.sessionId || randomHex(16);
    this.traceId = null;          // Root of the current (or last) connection
    this.previousTraceId = null;  // Root of the connection before it
    this.connectionSequence = 0;  // 0 for the first connection, then 1, 2, ...
    this.failures = 0;
    this.onopen = null;
    this.onmessage = null;
    this.onerror = null;
    this._abort = new AbortController();
    this._fetch = o.fetch || globalThis.fetch.bind(globalThis);
    this._run();
  }

  close() {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this._abort.abort();
  }

  _emit(type, init) {
    const ev = new MessageEvent(type, init);
    this.dispatchEvent(ev);
    const handler = type === "open" ? this.onopen : type === "message" ? this.onmessage : null;
    if (handler) handler.call(this, ev);
  }

  _error(kind, detail = {}) {
    const ev = new CustomEvent("error", { detail: { kind, ...detail } });
    ev.kind = kind;
    this.dispatchEvent(ev);
    if (this.onerror) this.onerror.call(this, ev);
  }

  _streamUrl() {
    const u = new URL(this.url, globalThis.location?.href);
    u.searchParams.set("session_id", this.sessionId);
    if (this.previousTraceId) u.searchParams.set("previous_trace_id", this.previousTraceId);
    if (this.connectionSequence > 0) u.searchParams.set("connection_sequence", String(this.connectionSequence));
    return u.toString();
  }

  _headers() {
    const headers = { Accept: "text/event-stream", ...(this.options.headers || {}) };
    let trace = findHeader(headers, TRACE_HEADER);
    if (!trace) {
      trace = this.options.traceHeader ? this.options.traceHeader()
        : newTraceHeader({ sampled: this.options.sampled });
      if (trace) headers[TRACE_HEADER] = trace;
    }
    if (this.lastEventId) headers["Last-Event-ID"] = this.lastEventId;
    return { headers, root: rootOf(trace) };
  }

  _backoff() {
    const base = Math.max(this.options.baseDelayMs ?? 1000, 1);
    const cap = this.options.maxDelayMs ?? 30000;
    const exp = Math.min(cap, base * 2 ** Math.max(0, this.failures - 1));
    return exp / 2 + Math.random() * (exp / 2); // "equal jitter": never 0, never above the cap
  }

  async _run() {
    const signal = this._abort.signal;
    if (this.options.ready) {
      await Promise.race([this.options.ready.catch(() => {}), sleep(this.options.readyTimeoutMs ?? 5000, signal)]);
    }
    const maxRetries = this.options.maxRetries ?? Infinity;
    while (!signal.aborted) {
      this.readyState = CONNECTING;
      const { headers, root } = this._headers();
      let kind = null;
      let delay = 0;
      let status = null;
      let sawDeadline = false;
      try {
        const response = await this._fetch(this._streamUrl(), { headers, signal, cache: "no-store" });
        status = response.status;
        this.traceId = rootOf(response.headers.get("x-amzn-trace-id")) || root;
        if (status === 200 && (response.headers.get("content-type") || "").startsWith("text/event-stream")) {
          this.readyState = OPEN;
          this._emit("open", {});
          sawDeadline = await this._read(response, signal);
          kind = sawDeadline ? "sentinel" : "abnormal";
          delay = sawDeadline ? 0 : 1000 + Math.random() * 2000;
        } else if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
          kind = "fatal";
        } else {
          kind = "network";
          this.failures += 1;
          const retryAfter = parseFloat(response.headers.get("retry-after") || "");
          delay = Number.isFinite(retryAfter) ? retryAfter * 1000 : this._backoff();
          response.body?.cancel().catch(() => {});
        }
      } catch (err) {
        if (signal.aborted) { kind = "cancel"; }
        else { kind = "network"; this.failures += 1; delay = Math.max(this._backoff(), this.retryMs / 2); }
        status = status ?? null;
        this._lastError = err;
      }
      if (kind === "cancel" || signal.aborted) { this.readyState = CLOSED; this._error("cancel"); return; }
      if (kind === "fatal" || this.failures > maxRetries) {
        this.readyState = CLOSED;
        this._error(kind === "fatal" ? "fatal" : "network", { status, final: true });
        return;
      }
      this.readyState = CONNECTING;
      this._error(kind, { status, delayMs: Math.round(delay), error: this._lastError?.message });
      this._lastError = null;
      // The next connection is a new trace that names this one (FR-048).
      if (this.traceId) this.previousTraceId = this.traceId;
      this.connectionSequence += 1;
      await sleep(delay, signal);
    }
    this.readyState = CLOSED;
  }

  /** Read one response to its end; returns true when the server sent the `deadline` sentinel. */
  async _read(response, signal) {
    let sawDeadline = false;
    let sawEvent = false;
    const parser = new SSEParser((ev) => {
      sawEvent = true;
      if (ev.type === "deadline") sawDeadline = true;
      const init = { data: ev.data, lastEventId: ev.lastEventId, origin: new URL(response.url).origin };
      this._emit(ev.type, init);
      if (ev.type === "message") return; // onmessage already called by _emit
    }, {
      onRetry: (ms) => { this.retryMs = ms; },
      onId: (id) => { this.lastEventId = id; },
      lastEventId: this.lastEventId,
    });
    const reader = response.body.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.feedBytes(value); // FR-099: multi-byte chars across chunks
        if (sawEvent) this.failures = 0;
      }
      parser.end(); // an event cut off by the end of the body is not dispatched
    } finally {
      reader.releaseLock?.();
    }
    if (signal.aborted) throw new DOMException("aborted", "AbortError");
    return sawDeadline;
  }
}
