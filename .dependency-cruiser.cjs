/**
 * The dependency rule of mailstream (docs/architecture.md), checked by `npm test`
 * (`npm run depcheck`): no cycles between files or between areas (folders), production code
 * never imports the development tools, and each area imports only the areas the map allows.
 *
 * Production code: functions/, infra/, and lib/ outside lib/dev. Development tools: lib/dev (the
 * simulator, the local runtime and the CLI's dev commands), bench/, test/.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-file-cycles",
      severity: "error",
      comment:
        "Two files that import each other (directly or around a loop) are one concept: merge them or move what both need into a third.",
      from: {},
      to: { circular: true },
    },
    {
      name: "no-area-cycles",
      severity: "error",
      comment:
        "Areas (folders) depend on each other in one direction only; see the map in docs/architecture.md.",
      scope: "folder",
      from: {},
      to: { circular: true },
    },
    {
      name: "production-never-imports-dev-tools",
      severity: "error",
      comment:
        "functions/, infra/ and lib/ outside lib/dev ship to users; the simulator, the local runtime and the benchmark do not.",
      from: { path: "^(functions|infra|lib)/", pathNot: "^lib/dev/" },
      to: { path: "^(lib/dev|bench|test)/" },
    },
    {
      name: "lib-stays-out-of-entry-points",
      severity: "error",
      comment:
        "lib/ is what the entry points (functions/, infra/, bin/, bench/) are built from, never the other way round.",
      from: { path: "^lib/" },
      to: { path: "^(functions|infra|bin|bench|test)/" },
    },
    {
      name: "core-is-pure",
      severity: "error",
      comment:
        "The backup flow (lib/backup) and the planner (lib/plan) know only their ports: no AWS, Graph, archive or state code.",
      from: { path: "^lib/(backup|plan)/" },
      to: { path: "^lib/(app|archive|aws|catalog-index|cli|config|export|graph|restore|state|verify)/" },
    },
    {
      name: "adapters-do-not-know-the-app",
      severity: "error",
      comment:
        "Adapters and features are wired together in lib/app (Lambda) and the CLI; they never import them.",
      from: {
        path: "^lib/(archive|aws|backup|catalog-index|config|export|graph|plan|queue|restore|state|verify)/",
      },
      to: { path: "^lib/(app|cli)/" },
    },
    {
      name: "shared-roots-are-leaves",
      severity: "error",
      comment: "lib/errors.ts and lib/retry.ts are imported by every area and import no area.",
      from: { path: "^lib/(errors|retry)\\.ts$" },
      to: { path: "^lib/[^/]+/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)node_modules/|^cdk\\.out/" },
    includeOnly: "^(lib|functions|infra|bench|bin)/",
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      extensions: [".ts", ".js", ".mjs", ".cjs", ".json"],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
