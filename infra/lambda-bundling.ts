/**
 * How every mailstream Lambda function is bundled, in one place: the esbuild settings the CDK
 * stack gives NodejsFunction (infra/constructs/mailstream-function.ts) and the benchmark's
 * bundle of the controller (bench/controller-rss.ts) build the same way.
 */
import type { BuildOptions } from "esbuild";

/**
 * ESM bundles still contain CommonJS dependencies that call `require`; esbuild's ESM output has
 * none, so the banner provides one.
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __mailstreamCreateRequire } from 'node:module'; const require = __mailstreamCreateRequire(import.meta.url);";

/** The bundling of a mailstream function, in NodejsFunction's terms. */
export const LAMBDA_BUNDLING = {
  /** ESM for Node 22 (the Lambda runtime). */
  format: "esm",
  target: "node22",
  minify: true,
  /** A separate .map file that --enable-source-maps finds; stack traces need lines, not sources. */
  sourceMap: true,
  sourcesContent: false,
  /** The Node 22 runtime ships AWS SDK v3: leaving it out keeps bundles small. */
  externalModules: ["@aws-sdk/*"],
  mainFields: ["module", "main"],
  /** ESM bundles still contain CommonJS dependencies that call `require`. */
  banner: ESM_REQUIRE_BANNER,
} as const;

/**
 * NODE_OPTIONS of every function. `--enable-source-maps`: stack traces name source lines (the
 * separate .map of the bundle). `--max-semi-space-size=4` (MiB): V8 grows each of the young
 * generation's two semi-spaces up to 16 MiB when allocation is heavy, and a controller streaming a
 * 100 MB item allocates a lot; capped at 4 MiB, its peak RSS with a 100 MB item measured
 * 184–188 MiB over four runs against 193–214 MiB without the cap (bench/controller-rss.md), at the
 * same CPU time.
 */
export const LAMBDA_NODE_OPTIONS = "--enable-source-maps --max-semi-space-size=4";

/**
 * The runtime environment of every function: {@link LAMBDA_NODE_OPTIONS}, and
 * `MALLOC_ARENA_MAX=2`: glibc gives each thread that allocates (V8's GC helpers, libuv's pool
 * running gzip) an arena of its own, up to 8 per core, and memory freed into one is not reused by
 * the others; with two a controller streaming a 100 MB item peaked at 150–153 MiB against
 * 166–171 MiB with glibc's default, three runs each (bench/controller-rss.md).
 */
export const LAMBDA_RUNTIME_ENVIRONMENT = {
  NODE_OPTIONS: LAMBDA_NODE_OPTIONS,
  MALLOC_ARENA_MAX: "2",
} as const;

/** The same settings as esbuild build options (for bundling outside CDK), with another target if given. */
export function lambdaEsbuildOptions(target: string = LAMBDA_BUNDLING.target): BuildOptions {
  return {
    bundle: true,
    platform: "node",
    format: LAMBDA_BUNDLING.format,
    target,
    minify: LAMBDA_BUNDLING.minify,
    sourcemap: LAMBDA_BUNDLING.sourceMap,
    sourcesContent: LAMBDA_BUNDLING.sourcesContent,
    external: [...LAMBDA_BUNDLING.externalModules],
    mainFields: [...LAMBDA_BUNDLING.mainFields],
    banner: { js: LAMBDA_BUNDLING.banner },
  };
}
