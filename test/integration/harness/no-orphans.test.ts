import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const fixture = fileURLToPath(new URL("./fixtures/start-and-wait.ts", import.meta.url));

async function refusesConnections(url: string): Promise<boolean> {
  try {
    await fetch(url);
    return false;
  } catch {
    return true;
  }
}

describe("DynamoDB Local child process", () => {
  it("dies with the process that started it, even when that process is SIGKILLed", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", fixture], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const firstLine = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once("line", resolve);
      child.once("exit", (code) =>
        reject(new Error(`expected the fixture to print endpoints, it exited ${code}`)),
      );
    });
    const { dynamodb } = JSON.parse(firstLine) as { dynamodb: string };
    expect(await refusesConnections(dynamodb)).toBe(false);

    child.kill("SIGKILL");
    // The watchdog notices the closed pipe and stops the JVM; give it a bounded while.
    let refused = false;
    for (let attempt = 0; attempt < 100 && !refused; attempt++) {
      await new Promise((r) => setTimeout(r, 100));
      refused = await refusesConnections(dynamodb);
    }
    expect(refused).toBe(true);
  });
});
