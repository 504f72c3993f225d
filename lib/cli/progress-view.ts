import cliProgress from "cli-progress";
import type { JobProgressSnapshot } from "../app/progress.js";
import { formatBytes } from "./format/output.js";

/**
 * A live view of one job: an overall bar and one line per stream. On a terminal it redraws in
 * place; elsewhere (CI, a log file) it prints a summary line at most every `plainIntervalMs`.
 */
export class JobProgressView {
  private multibar: cliProgress.MultiBar | undefined;
  private overall: cliProgress.SingleBar | undefined;
  private readonly streamBars = new Map<number, cliProgress.SingleBar>();
  private lastPlain = 0;
  private lastPlainStatus = "";

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly plainIntervalMs = 5_000,
  ) {}

  update(s: JobProgressSnapshot): void {
    if (!this.out.isTTY) {
      this.plain(s);
      return;
    }
    if (!this.multibar) {
      this.multibar = new cliProgress.MultiBar(
        {
          stream: this.out,
          clearOnComplete: false,
          hideCursor: true,
          autopadding: true,
          format: "{label} |{bar}| {percentage}% {detail}",
          barsize: 30,
        },
        cliProgress.Presets.shades_classic,
      );
      this.overall = this.multibar.create(Math.max(1, s.costTotal), 0, { label: "job     ", detail: "" });
    }
    this.overall?.setTotal(Math.max(1, s.costTotal));
    this.overall?.update(Math.min(s.costDone, s.costTotal), {
      label: "job     ",
      detail: `${s.unitsDone}/${s.unitsTotal} units · ${s.items} items · ${formatBytes(s.bytes)} · ${s.throttled} throttled · ${s.errors} errors`,
    });
    for (const st of s.streams) {
      let bar = this.streamBars.get(st.streamId);
      if (!bar) {
        bar = this.multibar.create(1, 0, { label: "", detail: "" });
        this.streamBars.set(st.streamId, bar);
      }
      const busy = st.status === "running" && st.unit !== undefined;
      bar.update(busy ? 0.5 : st.status === "finished" ? 1 : 0, {
        label: `stream ${String(st.streamId).padStart(2)}`,
        detail: `${st.status.padEnd(8)} ${busy ? `unit ${st.unit} ${st.mailbox ?? ""}` : ""} · ${st.unitsDone} units · ${st.items} items`,
      });
    }
  }

  private plain(s: JobProgressSnapshot): void {
    const now = Date.now();
    if (now - this.lastPlain < this.plainIntervalMs && s.status === this.lastPlainStatus) return;
    this.lastPlain = now;
    this.lastPlainStatus = s.status;
    // Costs are fractional (20 items per export request) and added in another order as units
    // end than in the plan's total: a job whose every unit ended may sum a hair under it.
    const pct = s.costTotal > 0 ? Math.min(100, Math.floor((100 * s.costDone) / s.costTotal + 1e-6)) : 0;
    const running = s.streams.filter((x) => x.status === "running").length;
    this.out.write(
      `[${s.jobId}] ${s.status} ${pct}% · units ${s.unitsDone}/${s.unitsTotal} · streams running ${running}/${s.streams.length} · ${s.items} items · ${formatBytes(s.bytes)} · throttled ${s.throttled} · errors ${s.errors}\n`,
    );
  }

  stop(): void {
    this.multibar?.stop();
    this.multibar = undefined;
  }
}
