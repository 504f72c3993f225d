/**
 * Reports the size of each Lambda bundle in a synthesized cloud assembly (cold start grows with
 * the code Lambda must load). Usage: `npx tsx infra/bundle-report.ts [cdk.out]` after
 * `npx cdk synth`.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

export interface BundleSize {
  /** Logical id of the function in its template, e.g. `ControllerFunction5B01FC5C`. */
  functionId: string;
  /** Construct path of the function, e.g. `Mailstream-example/Controller/Function`. */
  path: string;
  /** Asset directory inside the assembly. */
  assetDir: string;
  /** Size of the bundled code (`index.mjs`), bytes. */
  codeBytes: number;
  /** Size of the code gzip-compressed, bytes: close to what the deployment package weighs. */
  gzipBytes: number;
  /** Size of the source map, bytes (loaded only when an error's stack trace is mapped). */
  sourceMapBytes: number;
}

interface TemplateResource {
  Type: string;
  Properties?: { Code?: { S3Key?: unknown } };
  Metadata?: Record<string, unknown>;
}

/** The bundle of every Lambda function of every stack in the assembly at `assemblyDir`. */
export function bundleSizes(assemblyDir: string): BundleSize[] {
  const sizes: BundleSize[] = [];
  for (const templateFile of readdirSync(assemblyDir).filter((f) => f.endsWith(".template.json"))) {
    const template = JSON.parse(readFileSync(join(assemblyDir, templateFile), "utf8")) as {
      Resources: Record<string, TemplateResource>;
    };
    for (const [functionId, resource] of Object.entries(template.Resources)) {
      if (resource.Type !== "AWS::Lambda::Function") continue;
      const key = resource.Properties?.Code?.S3Key;
      if (typeof key !== "string" || !key.endsWith(".zip")) continue;
      const assetDir = join(assemblyDir, `asset.${key.slice(0, -".zip".length)}`);
      const code = readFileSync(join(assetDir, "index.mjs"));
      const mapFile = join(assetDir, "index.mjs.map");
      sizes.push({
        functionId,
        path: String(resource.Metadata?.["aws:cdk:path"] ?? functionId).replace(/\/Resource$/, ""),
        assetDir,
        codeBytes: code.length,
        gzipBytes: gzipSync(code).length,
        sourceMapBytes: safeSize(mapFile),
      });
    }
  }
  return sizes;
}

function safeSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** A printable table of {@link bundleSizes}. */
export function formatBundleReport(sizes: BundleSize[]): string {
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  const rows = sizes.map((s) => [s.path, kib(s.codeBytes), kib(s.gzipBytes), kib(s.sourceMapBytes)]);
  const header = ["function", "code", "gzip", "source map"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  return [line(header), ...rows.map(line)].join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.argv[2] ?? "cdk.out";
  const sizes = bundleSizes(dir);
  if (sizes.length === 0) {
    console.error(`no Lambda bundles found in ${dir}: run "npx cdk synth" first`);
    process.exit(1);
  }
  console.log(formatBundleReport(sizes));
}
