/**
 * The per-stream timeline of a job as a self-contained HTML page with an inline SVG: one row per
 * stream, one bar per unit from its start to its end, colored by status; under each actual bar
 * row, the plan's bars (the planner's largest-first assignment with its estimated seconds), and
 * lines for the predicted makespan, the lower bound and the actual makespan.
 */
import type { JobReport } from "../backup/report.js";

export interface TimelineBar {
  unit: number;
  mailboxId: string;
  /** The mailbox's address from the report (its id when the report names none): what labels show. */
  mailbox: string;
  streamId: number;
  /** Seconds from the job's start. */
  start: number;
  end: number;
  status: string;
  /**
   * 0, or 1 for a unit that started while the stream's previous unit was still running (a
   * stream overlaps a small unit's tail with its next unit): drawn as a thinner bar over it.
   */
  lane: number;
}

const ms = (iso: string) => Date.parse(iso);

/** Mailbox ids to addresses, from the report's mailboxes and skipped mailboxes. */
function addresses(report: JobReport): (mailboxId: string) => string {
  const byId = new Map<string, string>();
  for (const m of report.mailboxes ?? []) byId.set(m.mailboxId, m.address);
  for (const m of report.skippedMailboxes ?? []) if (m.address) byId.set(m.userId, m.address);
  return (id) => byId.get(id) ?? id;
}

/** What happened: every unit that started, placed on its stream (seconds from the job's start). */
export function actualBars(report: JobReport): TimelineBar[] {
  const t0 = ms(report.createdAt);
  const jobEnd = (ms(report.endedAt) - t0) / 1000;
  const address = addresses(report);
  const bars = report.units
    .filter((u) => u.startedAt && u.streamId !== undefined)
    .map((u) => ({
      unit: u.index,
      mailboxId: u.mailboxId,
      mailbox: address(u.mailboxId),
      streamId: u.streamId!,
      start: Math.max(0, (ms(u.startedAt!) - t0) / 1000),
      end: u.endedAt ? (ms(u.endedAt) - t0) / 1000 : jobEnd,
      status: u.status,
      lane: 0,
    }));
  // Per stream, in start order: a bar that starts before the last lane-0 bar ends takes lane 1.
  const laneEnd = new Map<number, number>();
  for (const b of [...bars].sort((a, z) => a.start - z.start)) {
    const end = laneEnd.get(b.streamId) ?? Number.NEGATIVE_INFINITY;
    if (b.start < end) b.lane = 1;
    else laneEnd.set(b.streamId, b.end);
  }
  return bars;
}

/** When the streams got their tasks (the plan's time zero), seconds from the job's start; 0 in reports without phases. */
export function planStart(report: JobReport): number {
  return report.phases?.planningSeconds ?? 0;
}

/**
 * What the plan expected: units in plan order (largest first), each pulled by the stream that
 * frees up first, lasting its estimated seconds — the dynamic assignment with perfect estimates,
 * from the moment the streams got their tasks.
 */
export function plannedBars(report: JobReport): TimelineBar[] {
  const streams = Math.max(1, report.plan.streams);
  const free = new Array<number>(streams).fill(planStart(report));
  const address = addresses(report);
  return report.plan.units.map((u) => {
    let s = 0;
    for (let i = 1; i < streams; i++) if (free[i]! < free[s]!) s = i;
    const start = free[s]!;
    free[s] = start + u.estimatedSeconds;
    return {
      unit: u.index,
      mailboxId: u.mailboxId,
      mailbox: address(u.mailboxId),
      streamId: s,
      start,
      end: free[s]!,
      status: "planned",
      lane: 0,
    };
  });
}

const STATUS_COLORS: Record<string, string> = {
  done: "#2e7d32",
  failed: "#c62828",
  "mailbox-skipped": "#9e9e9e",
  running: "#f9a825",
  pending: "#bdbdbd",
  planned: "#90caf9",
};

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The timeline as a standalone HTML document (no script, no external resource). */
export function renderTimelineHtml(report: JobReport): string {
  const actual = actualBars(report);
  const planned = plannedBars(report);
  const streamIds = [
    ...new Set([...report.streams.map((s) => s.streamId), ...actual.map((b) => b.streamId)]),
  ].sort((a, b) => a - b);
  // The plan's times count from the end of planning, when the streams got their tasks.
  const zero = planStart(report);
  const backup = report.phases?.backupSeconds ?? report.makespanSeconds;
  const horizon = Math.max(
    1e-3,
    report.makespanSeconds,
    zero + report.plan.predictedMakespanSeconds,
    ...actual.map((b) => b.end),
    ...planned.map((b) => b.end),
  );
  const left = 90;
  const width = 900;
  const rowH = 34;
  const top = 44;
  const height = top + streamIds.length * rowH + 40;
  const x = (s: number) => left + (s / horizon) * width;
  const row = new Map(streamIds.map((id, i) => [id, top + i * rowH]));
  const parts: string[] = [];
  for (const id of streamIds) {
    const y = row.get(id)!;
    parts.push(
      `<text x="${left - 8}" y="${y + 14}" text-anchor="end" class="label" font-size="11">stream ${id}</text>`,
    );
    parts.push(
      `<line x1="${left}" x2="${left + width}" y1="${y + rowH - 4}" y2="${y + rowH - 4}" class="grid" stroke="#eee"/>`,
    );
  }
  for (const b of actual) {
    // A unit overlapping the stream's previous one: the lower half of the row, outlined.
    const y = row.get(b.streamId)! + (b.lane === 1 ? 8 : 0);
    const shape = b.lane === 1 ? 'height="8" stroke="#fff" stroke-width="1"' : 'height="16"';
    parts.push(
      `<rect class="bar actual" data-unit="${b.unit}" data-status="${esc(b.status)}" data-lane="${b.lane}" x="${x(b.start).toFixed(1)}" y="${y}" width="${Math.max(1, x(b.end) - x(b.start)).toFixed(1)}" ${shape} fill="${STATUS_COLORS[b.status] ?? "#6d4c41"}"><title>unit ${b.unit} · mailbox ${esc(b.mailbox)} · ${esc(b.status)} · ${b.start.toFixed(1)}–${b.end.toFixed(1)} s</title></rect>`,
    );
  }
  for (const b of planned) {
    const y = row.get(b.streamId) ?? top;
    parts.push(
      `<rect class="bar planned" data-unit="${b.unit}" x="${x(b.start).toFixed(1)}" y="${y + 19}" width="${Math.max(1, x(b.end) - x(b.start)).toFixed(1)}" height="7" fill="${STATUS_COLORS.planned}" stroke="#1565c0" stroke-width="0.5"><title>plan: unit ${b.unit} · mailbox ${esc(b.mailbox)} · ${b.start.toFixed(1)}–${b.end.toFixed(1)} s (estimated)</title></rect>`,
    );
  }
  // Strokes inline (not only CSS), so the SVG keeps them when cut out of the page.
  const STROKES: Record<string, string> = {
    lb: 'stroke="#6a1b9a" stroke-dasharray="2 3"',
    predicted: 'stroke="#1565c0" stroke-dasharray="6 3"',
    "actual-end": 'stroke="#222"',
  };
  const marker = (s: number, label: string, cls: string, dy: number) =>
    `<line class="${cls}" ${STROKES[cls]} x1="${x(s).toFixed(1)}" x2="${x(s).toFixed(1)}" y1="${top - 6}" y2="${height - 30}"/><text x="${x(s).toFixed(1)}" y="${height - 30 + dy}" class="mark" font-size="11" text-anchor="middle">${esc(label)}</text>`;
  // A time axis with about ten ticks at a round step.
  const raw = horizon / 10;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((v) => v >= raw) ?? raw;
  for (let t = 0; t <= horizon + 1e-9; t += step) {
    parts.push(
      `<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${top - 10}" y2="${top - 6}" stroke="#999"/><text x="${x(t).toFixed(1)}" y="${top - 13}" font-size="10" fill="#666" text-anchor="middle">${Number(t.toPrecision(6))} s</text>`,
    );
  }
  parts.push(
    marker(
      zero + report.plan.lowerBoundSeconds,
      `lower bound ${report.plan.lowerBoundSeconds.toFixed(1)} s`,
      "lb",
      12,
    ),
  );
  parts.push(
    marker(
      zero + report.plan.predictedMakespanSeconds,
      `predicted ${report.plan.predictedMakespanSeconds.toFixed(1)} s`,
      "predicted",
      24,
    ),
  );
  parts.push(
    marker(report.makespanSeconds, `actual ${report.makespanSeconds.toFixed(1)} s`, "actual-end", 12),
  );
  const legend = Object.entries(STATUS_COLORS)
    .map(([status, color]) => `<span><i style="background:${color}"></i>${esc(status)}</span>`)
    .join(" ");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mailstream job ${esc(report.jobId)}: timeline</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#222}
.label,.mark{font-size:11px;fill:#444}.grid{stroke:#eee}
.lb{stroke:#6a1b9a;stroke-dasharray:2 3}.predicted{stroke:#1565c0;stroke-dasharray:6 3}.actual-end{stroke:#222}
.legend span{margin-right:12px}.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}
</style></head><body>
<h1>Job ${esc(report.jobId)}: ${esc(report.status)}</h1>
<p>${report.units.length} units on ${streamIds.length} streams · makespan ${report.makespanSeconds.toFixed(1)} s: planning ${zero.toFixed(1)} s, then the streams ${backup.toFixed(1)} s (predicted ${report.plan.predictedMakespanSeconds.toFixed(1)} s, lower bound ${report.plan.lowerBoundSeconds.toFixed(1)} s, ratio to the bound ${(backup / Math.max(1e-9, report.plan.lowerBoundSeconds)).toFixed(2)}) · ${report.totals.items} items · ${report.totals.errors} errors</p>
<p class="legend">Thick bars: what each stream did, by unit status; a half-height bar is a unit the stream started during the previous unit's tail. Thin bars: the plan (largest first, estimated seconds). ${legend}</p>
<svg xmlns="http://www.w3.org/2000/svg" width="${left + width + 90}" height="${height}" viewBox="0 0 ${left + width + 90} ${height}" font-family="sans-serif">
${parts.join("\n")}
</svg>
</body></html>
`;
}
