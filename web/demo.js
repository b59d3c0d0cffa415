// The demo page: `index.html?sse=http://127.0.0.1:8080&tickers=AAPL,MSFT&sampled=1`.
// Exposes `window.demo` (client, events, states, errors) so a headless browser test can watch it.
import { SSEClient, CONNECTING, OPEN, CLOSED } from "./sse-client.js";
import { ApiClient } from "./api-client.js";

const params = new URLSearchParams(location.search);
const base = (params.get("sse") || "http://127.0.0.1:8080").replace(/\/+$/, "");
const query = new URLSearchParams();
if (params.get("tickers")) query.set("tickers", params.get("tickers"));
const url = `${base}/api/v2/stream${query.toString() ? `?${query}` : ""}`;
const sampled = params.has("sampled") ? params.get("sampled") === "1" : undefined;
const names = { [CONNECTING]: "CONNECTING", [OPEN]: "OPEN", [CLOSED]: "CLOSED" };

const client = new SSEClient(url, { sampled, baseDelayMs: Number(params.get("base_delay_ms") || 1000) });
const demo = { client, events: [], states: [], errors: [], status: null };
window.demo = demo;
document.getElementById("url").textContent = url;

function show() {
  const state = names[client.readyState];
  if (demo.states[demo.states.length - 1] !== state) demo.states.push(state);
  document.getElementById("state").textContent = state;
  document.getElementById("trace").textContent = client.traceId || "-";
  document.getElementById("previous").textContent = client.previousTraceId || "-";
}

function row(type, ev) {
  let data = {};
  try { data = JSON.parse(ev.data); } catch { /* not JSON */ }
  demo.events.push({ type, id: ev.lastEventId, data });
  const tr = document.createElement("tr");
  for (const text of [ev.lastEventId, type, (data.tickers || []).join(","), data.sentiment || "", data.trace_id || ""]) {
    const td = document.createElement("td");
    td.textContent = text;
    tr.append(td);
  }
  document.getElementById("events").prepend(tr);
  show();
}

client.addEventListener("open", show);
for (const type of ["connected", "sentiment", "heartbeat", "deadline"]) client.addEventListener(type, (ev) => row(type, ev));
client.addEventListener("error", (ev) => { demo.errors.push(ev.detail); show(); });
document.getElementById("close").addEventListener("click", () => { client.close(); show(); });
setInterval(show, 250);

// The same trace header discipline for plain API calls (FR-016).
new ApiClient(base, { sampled }).get("/api/v2/stream/status")
  .then((r) => { demo.status = r; document.getElementById("status").textContent = `${r.data.connections} connection(s), trace ${r.traceId}`; })
  .catch((e) => { demo.status = { error: String(e) }; });
