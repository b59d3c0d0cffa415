// The SSE parser of web/sse-client.js against the WHATWG event-stream rules (FR-089, FR-099).
// Run: node --test web/tests/   (driven from tests/web/test_parser_node.py, which checks the count)
import { test } from "node:test";
import assert from "node:assert/strict";

import { SSEParser } from "../sse-client.js";

const utf8 = (s) => new TextEncoder().encode(s);

/** Parse `chunks` (strings or Uint8Arrays) and report what the parser did. */
function parse(chunks, { end = true, lastEventId } = {}) {
  const events = [];
  const retries = [];
  const ids = [];
  const p = new SSEParser((ev) => events.push(ev), {
    onRetry: (ms) => retries.push(ms), onId: (id) => ids.push(id), lastEventId,
  });
  for (const c of chunks) {
    if (typeof c === "string") p.feed(c);
    else p.feedBytes(c);
  }
  if (end) p.end();
  return { events, retries, ids, parser: p };
}

const STREAM = "retry: 3000\nid: a:1\nevent: connected\ndata: {\"x\":1}\n\n: keep-alive\n\n"
  + "id: a:2\nevent: sentiment\ndata: line one\ndata: línea dós €😀\n\ndata: plain\n\n";
const EXPECTED = [
  { type: "connected", data: "{\"x\":1}", lastEventId: "a:1" },
  { type: "sentiment", data: "line one\nlínea dós €😀", lastEventId: "a:2" },
  { type: "message", data: "plain", lastEventId: "a:2" },
];

test("FR-089: LF stream gives the expected events, retry and ids", () => {
  const { events, retries, ids } = parse([STREAM]);
  assert.deepEqual(events, EXPECTED);
  assert.deepEqual(retries, [3000]);
  assert.deepEqual(ids, ["a:1", "a:2"]);
});

test("FR-089: CRLF and lone-CR line endings (and a mix) parse exactly like LF", () => {
  const lines = STREAM.split("\n");
  for (const eol of ["\r\n", "\r"]) {
    assert.deepEqual(parse([lines.join(eol)]).events, EXPECTED, JSON.stringify(eol));
  }
  // Mixed: non-empty lines cycle through the three; blank lines use CRLF (a CR then an LF-terminated blank
  // line would be one CRLF, by the rules).
  const mixed = lines.map((l, i) => l + (l === "" ? "\r\n" : ["\r\n", "\r", "\n"][i % 3])).join("");
  assert.deepEqual(parse([mixed]).events, EXPECTED);
});

test("FR-089: a CRLF split between two chunks is one line end, not two", () => {
  const { events } = parse(["data: a\r", "\ndata: b\r", "\n\r", "\n"]);
  assert.deepEqual(events, [{ type: "message", data: "a\nb", lastEventId: "" }]);
});

test("FR-089: a lone CR at the end of a chunk dispatches at once (no waiting for the next chunk)", () => {
  const { events } = parse(["data: now\r\r"], { end: false });
  assert.deepEqual(events.map((e) => e.data), ["now"]);
});

test("FR-099: a multi-byte UTF-8 character split across two chunks, at every byte offset", () => {
  const bytes = utf8("event: t\ndata: €-😀-ü\n\n");
  for (let cut = 1; cut < bytes.length; cut += 1) {
    const { events } = parse([bytes.slice(0, cut), bytes.slice(cut)]);
    assert.deepEqual(events, [{ type: "t", data: "€-😀-ü", lastEventId: "" }], `cut at ${cut}`);
  }
});

test("FR-099: byte-at-a-time delivery of a whole stream equals one chunk", () => {
  const bytes = utf8(STREAM.replaceAll("\n", "\r\n"));
  const chunks = Array.from(bytes, (b) => Uint8Array.of(b));
  assert.deepEqual(parse(chunks).events, EXPECTED);
});

test("FR-089: a field name or value split across chunks", () => {
  const { events, retries } = parse(["da", "ta: hel", "lo\nev", "ent: gre", "eting\nre", "try: 12", "0\n", "\n"]);
  assert.deepEqual(events, [{ type: "greeting", data: "hello", lastEventId: "" }]);
  assert.deepEqual(retries, [120]);
});

test("FR-089: comment lines are ignored, also between data lines, and never dispatch", () => {
  const { events } = parse([": hello\n\n:\n\ndata: a\n: in between\ndata: b\n\n"]);
  assert.deepEqual(events.map((e) => e.data), ["a\nb"]);
});

test("FR-089: multi-line data joins with LF; bare `data` adds an empty line; one leading space is stripped", () => {
  const { events } = parse(["data: a\ndata:b\ndata\ndata:  c\n\n", "data\n\n"]);
  assert.deepEqual(events.map((e) => e.data), ["a\nb\n\n c", ""]);
});

test("FR-089: retry that is not ASCII digits only is ignored", () => {
  const bad = ["5s", "-1", "1.5", "", " 100", "1e3", "\uff15", "0x10"];
  const { retries } = parse([...bad.map((v) => `retry: ${v}\n`), "retry\n", "retry: 0\nretry: 4500\n\n"]);
  assert.deepEqual(retries, [0, 4500]);
});

test("FR-089: an id containing NUL is ignored; an empty id resets; ids apply at dispatch", () => {
  const { events, ids } = parse(["id: 1\ndata: a\n\n", "id: x\u0000y\ndata: b\n\n", "id\ndata: c\n\n"]);
  assert.deepEqual(events.map((e) => [e.data, e.lastEventId]), [["a", "1"], ["b", "1"], ["c", ""]]);
  assert.deepEqual(ids, ["1", ""]);
});

test("FR-089: an id on an event without data still becomes the last event id", () => {
  const { events, ids, parser } = parse(["id: 9\n\n"]);
  assert.deepEqual(events, []);
  assert.deepEqual(ids, ["9"]);
  assert.equal(parser.lastEventId, "9");
});

test("FR-089: an event cut off by the end of the stream is not dispatched and its id is not taken", () => {
  for (const tail of ["id: 7\ndata: x\n", "id: 7\ndata: x", "id: 7\ndata: x\r"]) {
    const { events, ids, parser } = parse(["id: 6\ndata: ok\n\n", tail]);
    assert.deepEqual(events.map((e) => e.data), ["ok"], JSON.stringify(tail));
    assert.deepEqual(ids, ["6"], JSON.stringify(tail));
    assert.equal(parser.lastEventId, "6");
  }
});

test("FR-089: event type resets after each dispatch and after a data-less block; unknown fields ignored", () => {
  const { events } = parse(["event: a\n\ndata: 1\n\nevent: b\nfoo: bar\ndata: 2\n\ndata: 3\n\n"]);
  assert.deepEqual(events.map((e) => [e.type, e.data]), [["message", "1"], ["b", "2"], ["message", "3"]]);
});

test("FR-089: a leading byte-order mark is skipped, only at the very start", () => {
  const { events } = parse([Uint8Array.of(0xef, 0xbb, 0xbf), utf8("data: x\n\n\ufeffdata: y\n\n")]);
  assert.deepEqual(events.map((e) => e.data), ["x"]);
});

test("FR-033: the last event id carries over a reconnect (constructor option)", () => {
  const { events, ids } = parse(["data: a\n\nid: 5\ndata: b\n\n"], { lastEventId: "4" });
  assert.deepEqual(events.map((e) => e.lastEventId), ["4", "5"]);
  assert.deepEqual(ids, ["5"]);
});
