/**
 * `npx cdk synth` as an operator runs it on a fresh clone: the CDK app from cdk.json, the example
 * configuration, local esbuild bundling, cdk-nag and CloudFormation validation, all offline.
 */
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { bundleSizes, formatBundleReport } from "../../infra/bundle-report.js";

const run = promisify(execFile);
const REPO_ROOT = new URL("../..", import.meta.url).pathname;
// Bundles are loaded from inside the repository so that `@aws-sdk/*` resolves (git-ignored).
mkdirSync(join(REPO_ROOT, ".mailstream"), { recursive: true });
const CLI_ENV = {
  ...process.env,
  // Offline: no version check, no notices, no telemetry.
  CDK_DISABLE_VERSION_CHECK: "true",
  CDK_DISABLE_CLI_TELEMETRY: "true",
};

async function cdkSynth(outdir: string, ...args: string[]) {
  return run("npx", ["cdk", "synth", "--quiet", "--no-notices", "-o", outdir, ...args], {
    cwd: REPO_ROOT,
    env: CLI_ENV,
    maxBuffer: 16 * 1024 * 1024,
  });
}

/**
 * Loads a bundle as the Node 22 runtime would: as an ES module whose only outside imports are the
 * AWS SDK (which the runtime provides; here it resolves from the repository's node_modules). This
 * catches a bundle that needs `require` without the banner, or a dependency left out.
 */
async function expectLoadableHandler(assetDir: string): Promise<void> {
  const dir = mkdtempSync(join(REPO_ROOT, ".mailstream", "bundle-check-"));
  try {
    cpSync(assetDir, dir, { recursive: true });
    const { stdout } = await run(
      process.execPath,
      [
        "--enable-source-maps",
        "--input-type=module",
        "-e",
        `const m = await import(${JSON.stringify(join(dir, "index.mjs"))}); console.log(typeof m.handler);`,
      ],
      { cwd: dir, env: { PATH: process.env.PATH, AWS_REGION: "us-east-1" } },
    );
    expect(stdout.trim(), assetDir).toBe("function");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("cdk synth", () => {
  it("synthesizes the example deployment offline and bundles each function small", {
    timeout: 300_000,
  }, async () => {
    const outdir = mkdtempSync(join(tmpdir(), "mailstream-synth-"));
    const { stderr } = await cdkSynth(outdir);
    // The example configuration is flagged so nobody deploys it by accident.
    expect(stderr).toContain("example configuration");
    const templateFile = join(outdir, "Mailstream-example.template.json");
    expect(existsSync(templateFile)).toBe(true);
    const template = JSON.parse(readFileSync(templateFile, "utf8"));
    expect(Object.keys(template.Resources).length).toBeGreaterThan(20);
    // What the default deployment is: a locked archive, queue settings as AWS recommends.
    type Resource = { Type: string; Properties: Record<string, unknown> };
    const resources = Object.entries(template.Resources as Record<string, Resource>);
    const archive = resources.find(([id]) => id.startsWith("ArchiveBucket") && !id.includes("Policy"))![1];
    expect(archive.Properties).toMatchObject({
      ObjectLockEnabled: true,
      ObjectLockConfiguration: { Rule: { DefaultRetention: { Mode: "GOVERNANCE", Days: 90 } } },
    });
    const queue = resources.find(([id]) => id.startsWith("StreamQueueTasks") && !id.includes("Policy"))![1];
    const controller = resources.find(
      ([id, r]) => id.startsWith("Controller") && r.Type === "AWS::Lambda::Function",
    )![1];
    expect(queue.Properties.VisibilityTimeout).toBe(6 * (controller.Properties.Timeout as number));
    expect(queue.Properties.RedrivePolicy).toMatchObject({ maxReceiveCount: 5 });

    const sizes = bundleSizes(outdir);
    console.log(`Lambda bundle sizes:\n${formatBundleReport(sizes)}`);
    expect(sizes.map((s) => s.path.split("/")[1]).sort()).toEqual(["Controller", "Coordinator", "Sweep"]);
    for (const bundle of sizes) {
      const code = readFileSync(join(bundle.assetDir, "index.mjs"), "utf8");
      // An ES module exporting the handler, with the AWS SDK left to the runtime.
      expect(code, bundle.path).toMatch(/export\s*\{[^}]*\bhandler\b[^}]*\}/);
      expect(code, bundle.path).not.toMatch(/@aws-sdk\/client-s3\/dist-cjs/);
      expect(code, bundle.path).toContain("sourceMappingURL=index.mjs.map");
      expect(bundle.sourceMapBytes, bundle.path).toBeGreaterThan(0);
      // Cold start grows with the code Lambda loads: a bundle past 5 MiB means a dependency
      // was pulled in whole and needs a look.
      expect(bundle.codeBytes, bundle.path).toBeLessThan(5 * 1024 * 1024);
      await expectLoadableHandler(bundle.assetDir);
    }
  });

  it("stops with the field, the value and the expectation when the configuration is wrong", {
    timeout: 120_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "mailstream-synth-bad-"));
    const configFile = join(dir, "deployment.json");
    writeFileSync(
      configFile,
      JSON.stringify({
        configVersion: 2,
        stage: "bad",
        tenantId: "9f8e7d6c-5b4a-3210-fedc-ba9876543210",
        clientId: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        secretArn: "arn:aws:secretsmanager:us-east-1:444455556666:secret:mailstream-dev-Zz99Yy",
        streams: { max: 5000 },
      }),
    );
    const failure = await cdkSynth(join(dir, "out"), "-c", `mailstream:configFile=${configFile}`).then(
      () => undefined,
      (e: { code?: number; stderr?: string }) => e,
    );
    expect(failure?.code).not.toBe(0);
    expect(failure?.stderr).toContain("configuration deployment.streams.max");
    expect(failure?.stderr).toContain("expected an integer from 2 to 1000, found 5000");
  });
});
