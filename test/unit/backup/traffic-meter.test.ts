import { describe, expect, it } from "vitest";
import type { MailSource } from "../../../lib/backup/ports.js";
import { emptyProgress, tallyMeter, trafficMeter } from "../../../lib/backup/progress.js";

describe("trafficMeter", () => {
  it("adds each reading's growth, and all of counters that started again from 0", () => {
    let counters = { requests: 10, throttled: 1 };
    const source = { traffic: () => counters } as unknown as MailSource;
    const read = trafficMeter(source, "mbx");
    const progress = emptyProgress();
    counters = { requests: 15, throttled: 1 };
    read(progress);
    expect(progress).toMatchObject({ requests: 5, throttled: 0 });
    // The gateway forgot the mailbox (idle for a whole window): its counters began again.
    counters = { requests: 3, throttled: 1 };
    read(progress);
    expect(progress).toMatchObject({ requests: 8, throttled: 1 });
    counters = { requests: 4, throttled: 1 };
    read(progress);
    expect(progress).toMatchObject({ requests: 9, throttled: 1 });
  });
});

describe("tallyMeter", () => {
  it("adds what the unit's own tally grew by since the last reading", () => {
    const tally = { requests: 4, throttled: 0 };
    const read = tallyMeter(tally);
    const progress = emptyProgress();
    tally.requests = 10;
    tally.throttled = 2;
    read(progress);
    expect(progress).toMatchObject({ requests: 6, throttled: 2 });
    read(progress);
    expect(progress).toMatchObject({ requests: 6, throttled: 2 });
    tally.requests = 11;
    read(progress);
    expect(progress).toMatchObject({ requests: 7, throttled: 2 });
  });
});
