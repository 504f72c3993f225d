/**
 * A fixed piece of CPU work timed at the benchmark's start and end (`machineProbe` in
 * results/latest.json), so that runs made at different hours can be told apart by the machine's
 * speed as well as by their code. These machines are shared virtual machines: on 2026-12-07 the
 * same commit and the same simulator answered the same 3,127 requests with 40–55 % more CPU
 * seconds at 12:45 than at 11:27 (bench/README, *The shapes' archives on tmpfs*), and every
 * ratio of the shapes moved with it. The work is a mix like the harness's: JSON encoded and
 * parsed, SHA-256 over bytes, gzip.
 */
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";

export interface MachineProbe {
  /** CPU milliseconds the work took (user + system of this process). */
  cpuMs: number;
  /** Wall-clock milliseconds the work took. */
  wallMs: number;
  /** SHA-256 prefix of the work's output: the same on every machine (the work was the same). */
  digest: string;
}

/** The work's size: `rounds` × (a ≈ 50 KiB JSON document encoded and parsed, 1 MiB hashed, 128 KiB gzipped). Default 200 (≈ 0.5 s of CPU here). */
export function probeMachine(rounds = 200): MachineProbe {
  if (!(Number.isInteger(rounds) && rounds >= 1)) {
    throw new RangeError(`probeMachine: expected rounds ≥ 1 (an integer), found ${rounds}`);
  }
  const doc = Array.from({ length: 600 }, (_, i) => ({
    id: `item-${i}`,
    subject: `Subject ${i} ${"x".repeat(i % 40)}`,
    size: i * 37,
    flags: [i % 2 === 0, i % 3 === 0],
  }));
  const bytes = Buffer.alloc(1024 * 1024, 7);
  const text = Buffer.from(
    JSON.stringify(doc)
      .repeat(2)
      .slice(0, 128 * 1024),
  );
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  const digest = createHash("sha256");
  for (let r = 0; r < rounds; r++) {
    const parsed = JSON.parse(JSON.stringify(doc)) as typeof doc;
    digest.update(String(parsed.length + parsed[r % parsed.length]!.size));
    digest.update(createHash("sha256").update(bytes).update(String(r)).digest());
    digest.update(gzipSync(text, { level: 6 }));
  }
  const wallMs = performance.now() - wall0;
  const cpu = process.cpuUsage(cpu0);
  return { cpuMs: (cpu.user + cpu.system) / 1000, wallMs, digest: digest.digest("hex").slice(0, 16) };
}
