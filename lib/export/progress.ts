/**
 * A progress reporter for long commands: a cli-progress bar on a terminal, plain lines (every
 * 10 %) otherwise, so logs and pipes stay readable.
 */
import { SingleBar } from "cli-progress";

/** Where the progress goes: stderr, or a collector in tests. */
export interface ProgressSink {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

export interface Progress {
  update(done: number, total: number): void;
  stop(): void;
}

export function createProgress(label: string, err: ProgressSink): Progress {
  if (err.isTTY) {
    const bar = new SingleBar({
      format: `${label} [{bar}] {value}/{total} {percentage}% eta {eta}s`,
      stream: err as NodeJS.WriteStream,
    });
    let started = false;
    return {
      update(done, total) {
        if (!started) bar.start(total, 0);
        started = true;
        bar.update(done);
      },
      stop: () => started && bar.stop(),
    };
  }
  let lastDecile = -1;
  return {
    update(done, total) {
      const decile = total === 0 ? 10 : Math.floor((done * 10) / total);
      if (decile !== lastDecile) err.write(`${label}: ${done}/${total}\n`);
      lastDecile = decile;
    },
    stop() {},
  };
}
