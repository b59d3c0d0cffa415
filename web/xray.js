// X-Ray trace headers made in the browser (FR-016, D14). Dependency-free ES module.
//
// The browser originates trace ids (a proxy only forwards them). When CloudWatch RUM is on the page with
// `addXRayTraceIdHeader: true` it injects the header itself; these helpers are for when it has not.
// `Sampled` is omitted by default, so API Gateway's or Lambda's own sampling decides (FR-035, D13);
// pass `sampled: true` only where everything is sampled anyway (dev, the demo).

const HEX = "0123456789abcdef";

export function randomHex(bytes) {
  const buf = new Uint8Array(bytes);
  globalThis.crypto.getRandomValues(buf);
  let out = "";
  for (const b of buf) out += HEX[b >> 4] + HEX[b & 15];
  return out;
}

/** A new X-Ray trace id: `1-{epoch seconds, 8 hex}-{96 random bits, 24 hex}`. */
export function newTraceId(nowMs = Date.now()) {
  return `1-${Math.floor(nowMs / 1000).toString(16).padStart(8, "0")}-${randomHex(12)}`;
}

/** `Root=…;Parent=…[;Sampled=0|1]` for a fresh root. */
export function newTraceHeader({ root = newTraceId(), sampled } = {}) {
  let header = `Root=${root};Parent=${randomHex(8)}`;
  if (sampled !== undefined && sampled !== null) header += `;Sampled=${sampled ? 1 : 0}`;
  return header;
}

/** The Root of a header (`Root=1-…;…`), or null. */
export function rootOf(header) {
  if (!header) return null;
  const m = /(?:^|;)\s*Root=(1-[0-9a-f]{8}-[0-9a-f]{24})/i.exec(header);
  return m ? m[1].toLowerCase() : null;
}

export const TRACE_HEADER = "X-Amzn-Trace-Id";

/** A case-insensitive lookup in a plain headers object or a Headers instance. */
export function findHeader(headers, name) {
  if (!headers) return null;
  if (typeof headers.get === "function") return headers.get(name);
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === wanted) return v;
  return null;
}
