/**
 * Per-request trace of a run in this process (bench/timeline.ts `--requests`): every Graph
 * request a unit runs, from the unit's request-slot channel (lib/backup/request-trace.ts: queued
 * → slot taken → slot given back) and Node's own HTTP channels (node:http, which both the Graph
 * transport (lib/graph/https-transport.ts) and the AWS SDK use: request created → sent → answer's
 * headers → answer's end; a request with a Bearer token is Graph's, the others the archive's and
 * the state's; undici's, which `fetch` uses, for Graph requests sent through a `fetch`), matched
 * in order per kind. Then, per unit: how
 * long its requests held their slots and where that time went, and how many slot-seconds its
 * slots sat idle between its first request and its last answer.
 */
import { subscribe } from "node:diagnostics_channel";
import { performance } from "node:perf_hooks";
import {
  REQUEST_SLOT_CHANNEL,
  type RequestKind,
  type RequestSlotEvent,
} from "../lib/backup/request-trace.js";

interface HttpRecord {
  method: string;
  path: string;
  kind: RequestKind | "other";
  created: number;
  sent?: number;
  headers?: number;
  done?: number;
  status?: number;
  /** The simulator's own time on it (its Server-Timing `sim;dur`), ms. */
  sim?: number;
  /** The request a redirect (308) of this one led to, sent in the same slot. */
  followed?: HttpRecord;
}

export interface TracedRequest {
  id: number;
  kind: RequestKind;
  mailboxId: string;
  unit: number;
  queued: number;
  start?: number;
  end?: number;
  ok?: boolean;
  http?: HttpRecord;
}

/** The kind of a Graph request by its URL. */
function kindOfUrl(method: string, path: string): HttpRecord["kind"] {
  if (method === "POST" && /\/exportItems$/i.test(path)) return "export";
  if (/\/items\/delta$/i.test(path)) return "item-page";
  if (/\/messages\/delta$/i.test(path)) return "delta-page";
  if (/\/\$value$/i.test(path)) return "mime";
  return "other";
}

export class RequestTrace {
  readonly requests = new Map<number, TracedRequest>();
  /** Started slots not yet matched with their HTTP request, per kind, in start order. */
  private readonly unmatched = new Map<string, TracedRequest[]>();
  readonly http: HttpRecord[] = [];
  /** The AWS SDK's requests (archive, state, queue): start and end, by host:port. */
  readonly aws: Array<{ host: string; method: string; start: number; end?: number }> = [];
  private readonly byUndici = new WeakMap<object, HttpRecord>();
  private readonly byNodeHttp = new WeakMap<object, RequestTrace["aws"][number]>();
  private readonly byNodeGraph = new WeakMap<object, HttpRecord>();

  start(): void {
    subscribe(REQUEST_SLOT_CHANNEL, (message) => {
      const e = message as RequestSlotEvent;
      if (e.phase === "queued") {
        this.requests.set(e.id, {
          id: e.id,
          kind: e.kind,
          mailboxId: e.mailboxId,
          unit: e.unit,
          queued: e.at,
        });
        return;
      }
      const r = this.requests.get(e.id);
      if (!r) return;
      if (e.phase === "start") {
        r.start = e.at;
        const key = e.kind === "export-streamed" ? "export" : e.kind;
        const list = this.unmatched.get(key) ?? [];
        list.push(r);
        this.unmatched.set(key, list);
      } else {
        r.end = e.at;
        r.ok = e.ok;
      }
    });
    subscribe("undici:request:create", (message) => {
      const { request } = message as { request: { method: string; path: string; origin: string } };
      this.byUndici.set(request, this.graphRequest(request.method, request.path));
    });
    subscribe("undici:client:sendHeaders", (message) => {
      const record = this.byUndici.get((message as { request: object }).request);
      if (record) record.sent = performance.now();
    });
    subscribe("undici:request:headers", (message) => {
      const { request, response } = message as {
        request: object;
        response: { statusCode: number; headers: Array<Buffer | string> };
      };
      const record = this.byUndici.get(request);
      if (record) answered(record, response.statusCode, response.headers.map(String));
    });
    subscribe("undici:request:trailers", (message) => {
      const record = this.byUndici.get((message as { request: object }).request);
      if (record) record.done = performance.now();
    });
    subscribe("http.client.request.start", (message) => {
      const { request } = message as {
        request: {
          method: string;
          host: string;
          path: string;
          getHeader(n: string): unknown;
          once(event: "finish", listener: () => void): void;
        };
      };
      if (/^Bearer /i.test(String(request.getHeader("authorization") ?? ""))) {
        const record = this.graphRequest(request.method, request.path);
        this.byNodeGraph.set(request, record);
        request.once("finish", () => {
          record.sent = performance.now();
        });
        return;
      }
      const entry = {
        host: String(request.getHeader("host") ?? request.host),
        method: request.method,
        start: performance.now(),
      };
      this.aws.push(entry);
      this.byNodeHttp.set(request, entry);
    });
    // Published when the answer's headers have been read (not at its end).
    subscribe("http.client.response.finish", (message) => {
      const { request, response } = message as {
        request: object;
        response: {
          statusCode: number;
          rawHeaders: string[];
          once(event: "end", listener: () => void): void;
        };
      };
      const record = this.byNodeGraph.get(request);
      if (record) {
        answered(record, response.statusCode, response.rawHeaders);
        response.once("end", () => {
          record.done = performance.now();
        });
        return;
      }
      const entry = this.byNodeHttp.get(request);
      if (entry) entry.end = performance.now();
    });
  }

  /** A Graph request on the wire, matched with the unit's request that sent it. */
  private graphRequest(method: string, rawPath: string): HttpRecord {
    const path = (rawPath ?? "").split("?")[0] ?? "";
    const record: HttpRecord = { method, path, kind: kindOfUrl(method, path), created: performance.now() };
    this.http.push(record);
    if (record.kind !== "other") {
      // A redirect's next request runs in the slot of the one redirected.
      const redirected = [...this.requests.values()].find(
        (r) => r.end === undefined && r.http?.status === 308 && r.http.followed === undefined,
      );
      if (redirected?.http) {
        redirected.http.followed = record;
        return record;
      }
      const owner = this.unmatched.get(record.kind)?.shift();
      if (owner) owner.http = record;
    }
    return record;
  }

  /** The report of one unit's requests (all units when `unit` is undefined). */
  report(options: { unit?: number; slots: number; detail: boolean }): string[] {
    const out: string[] = [];
    const units = new Set([...this.requests.values()].map((r) => r.unit));
    for (const unit of [...units].sort((a, b) => a - b)) {
      if (options.unit !== undefined && unit !== options.unit) continue;
      const list = [...this.requests.values()]
        .filter((r) => r.unit === unit && r.start !== undefined && r.end !== undefined)
        .sort((a, b) => (a.start as number) - (b.start as number));
      if (list.length === 0) continue;
      out.push(...unitReport(unit, list, options.slots, options.detail));
    }
    // One stream (N = 1): its slots across the units it overlaps (a unit in its tail shares them
    // with the next one, so a unit's own idle slot-seconds may be the other's busy ones).
    if (options.unit === undefined && units.size > 1) {
      const all = [...this.requests.values()].filter((r) => r.start !== undefined && r.end !== undefined);
      const first = Math.min(...all.map((r) => r.start as number));
      const last = Math.max(...all.map((r) => r.end as number));
      const idle = idleSlotMs(
        all.map((r) => [r.start as number, r.end as number]),
        first,
        last,
        options.slots,
      );
      out.push(
        `all units (one stream at N = 1): ${all.length} requests in ${s(last - first)} s; idle slot-seconds ${s(idle)} of ${s((last - first) * options.slots)}; over 0.6 s: ${all.filter((r) => (r.end as number) - (r.start as number) > 600).length}`,
      );
    }
    // Every Graph request on the wire, by kind and status: a redirect's or an export's second
    // request (an archive's moved items) runs inside its first one's slot.
    const wire = new Map<string, number>();
    for (const h of this.http) {
      if (h.kind === "other") continue;
      const key = `${h.kind} ${h.status ?? "?"}`;
      wire.set(key, (wire.get(key) ?? 0) + 1);
    }
    out.push(`HTTP requests of the units' kinds: ${[...wire].map(([k, n]) => `${k}: ${n}`).join(", ")}`);
    return out;
  }
}

/** The answer's status and headers arrived: the time, the status and the simulator's own time (Server-Timing `sim;dur`). */
function answered(record: HttpRecord, status: number, rawHeaders: string[]): void {
  record.headers = performance.now();
  record.status = status;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (String(rawHeaders[i]).toLowerCase() !== "server-timing") continue;
    const dur = /sim;dur=([\d.]+)/.exec(String(rawHeaders[i + 1]));
    if (dur) record.sim = Number(dur[1]);
  }
}

const s = (ms: number) => (ms / 1000).toFixed(3);

/** Integral over [from, to] of max(0, slots − intervals open), ms. */
function idleSlotMs(intervals: Array<[number, number]>, from: number, to: number, slots: number): number {
  const events: Array<[number, number]> = [];
  for (const [a, b] of intervals) {
    events.push([Math.max(a, from), 1], [Math.min(b, to), -1]);
  }
  events.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let open = 0;
  let last = from;
  let idle = 0;
  for (const [t, d] of events) {
    idle += Math.max(0, slots - open) * (t - last);
    open += d;
    last = t;
  }
  idle += Math.max(0, slots - open) * (to - last);
  return idle;
}

function unitReport(unit: number, list: TracedRequest[], slots: number, detail: boolean): string[] {
  const out: string[] = [];
  const first = list[0]!.start as number;
  const lastEnd = Math.max(...list.map((r) => r.end as number));
  const span = lastEnd - first;
  const held = list.map((r) => [r.start as number, r.end as number] as [number, number]);
  const onWire = list
    .filter((r) => r.http?.sent !== undefined && r.http.done !== undefined)
    .map((r) => [r.http!.sent as number, r.http!.done as number] as [number, number]);
  const idleHeld = idleSlotMs(held, first, lastEnd, slots);
  const idleWire = idleSlotMs(onWire, first, lastEnd, slots);
  const byKind = new Map<string, number>();
  for (const r of list) byKind.set(r.kind, (byKind.get(r.kind) ?? 0) + 1);
  const long = list.filter((r) => (r.end as number) - (r.start as number) > 600);
  out.push(
    `unit ${unit}: ${list.length} requests (${[...byKind].map(([k, n]) => `${k} ${n}`).join(", ")}) from its first request to its last answer ${s(span)} s; fewest possible at 0.4 s × ⌈n / ${slots}⌉: ${s(400 * Math.ceil(list.length / slots))} s`,
  );
  out.push(
    `  slot-seconds: ${s(span * slots)} in all, held ${s(span * slots - idleHeld)}, idle ${s(idleHeld)}; on the wire (headers sent → answer's end) ${s(span * slots - idleWire)}`,
  );
  out.push(`  requests holding their slot over 0.6 s: ${long.length}`);
  // Where a request's slot time goes, per kind: mean and max of each step.
  const steps: Array<[string, (r: TracedRequest) => number | undefined]> = [
    ["queued → slot", (r) => (r.start as number) - r.queued],
    ["slot → fetch", (r) => (r.http ? r.http.created - (r.start as number) : undefined)],
    ["fetch → sent", (r) => (r.http?.sent !== undefined ? r.http.sent - r.http.created : undefined)],
    [
      "sent → headers",
      (r) =>
        r.http?.sent !== undefined && r.http.headers !== undefined ? r.http.headers - r.http.sent : undefined,
    ],
    ["sim", (r) => r.http?.sim],
    [
      "sent → headers − sim",
      (r) =>
        r.http?.sent !== undefined && r.http.headers !== undefined && r.http.sim !== undefined
          ? r.http.headers - r.http.sent - r.http.sim
          : undefined,
    ],
    [
      "headers → end",
      (r) =>
        r.http?.headers !== undefined && r.http.done !== undefined ? r.http.done - r.http.headers : undefined,
    ],
    [
      "end → slot free",
      (r) => {
        const done = r.http?.followed?.done ?? r.http?.done;
        return done !== undefined ? (r.end as number) - done : undefined;
      },
    ],
    ["slot held", (r) => (r.end as number) - (r.start as number)],
  ];
  for (const kind of byKind.keys()) {
    const of = list.filter((r) => r.kind === kind);
    const parts = steps.map(([name, f]) => {
      const v = of.map(f).filter((x): x is number => x !== undefined && Number.isFinite(x));
      if (v.length === 0) return `${name} –`;
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      return `${name} ${s(mean)}/${s(Math.max(...v))}`;
    });
    out.push(`  ${kind} (n=${of.length}, mean/max s): ${parts.join("; ")}`);
  }
  if (detail) {
    out.push("    #  kind          queued   slot    fetch   sent    headers end     free    held  status");
    for (const r of list) {
      const t = (x: number | undefined) => (x === undefined ? "   –  " : s(x - first).padStart(7));
      out.push(
        `  ${String(r.id).padStart(3)}  ${r.kind.padEnd(12)} ${t(r.queued)} ${t(r.start)} ${t(r.http?.created)} ${t(r.http?.sent)} ${t(r.http?.headers)} ${t(r.http?.done)} ${t(r.end)} ${s((r.end as number) - (r.start as number))}  ${r.http?.status ?? "–"}${r.http?.sim !== undefined ? ` sim ${s(r.http.sim)}` : ""}${r.http?.followed ? ` → ${r.http.followed.status} sim ${s(r.http.followed.sim ?? Number.NaN)}` : ""}${r.ok === false ? " failed" : ""}`,
      );
    }
  }
  return out;
}
