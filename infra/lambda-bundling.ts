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
