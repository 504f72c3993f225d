/**
 * The dependency rule of mailstream (docs/architecture.md), checked by `npm test`
 * (`npm run depcheck`): no cycles between files or between areas (folders), production code
 * never imports the development tools, and each area imports only the areas the map in
 * dependency-areas.cjs allows.
 *
 * Production code: functions/, infra/, and lib/ outside lib/dev. Development tools: lib/dev (the
 * simulator, the local runtime and the CLI's dev commands), bench/, test/.
 */
const { AREAS, pathOf } = require("./dependency-areas.cjs");

/** What each area may import, from dependency-areas.cjs (the map of docs/architecture.md). */
const areaRules = Object.entries(AREAS).map(([area, { imports }]) => ({
  name: `area-${area.replaceAll("/", "-")}`,
  severity: "error",
  comment: `${area} may import only ${imports.length > 0 ? imports.join(", ") : "node modules"} (docs/architecture.md).`,
  from: { path: pathOf(area) },
  to: {
    path: "^(lib|functions|infra|bench|bin)/",
    pathNot: [pathOf(area), ...imports.map(pathOf)],
  },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...areaRules,
    {
      name: "every-file-in-an-area",
      severity: "error",
      comment:
        "A new folder under lib/ (or a new top-level folder) is a new area: add it to dependency-areas.cjs and docs/architecture.md.",
      from: {
        path: "^(lib|functions|infra|bench|bin)/",
        pathNot: Object.keys(AREAS).map(pathOf),
      },
      to: {},
    },
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
