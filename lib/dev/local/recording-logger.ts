import type { Logger } from "../../app/logger.js";

/**
 * A logger that hands every event, at every level, to `record` (a child's too: its fields are
 * not merged): for tools that read a local run's events as it goes, such as the benchmark's
 * timelines.
 */
export function recordingLogger(record: (event: string, fields?: Record<string, unknown>) => void): Logger {
  const logger: Logger = { debug: record, info: record, warn: record, error: record, child: () => logger };
  return logger;
}
