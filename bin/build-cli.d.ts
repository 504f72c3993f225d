/** Types of bin/build-cli.js (plain JavaScript: it runs before any TypeScript loader). */
export declare const ROOT: string;
export declare const DIST: string;
/** The compiled entry (a file: URL) when the build in `dist` matches its sources, else undefined. */
export declare function compiledEntry(options?: { dist?: string }): string | undefined;
/** Bundles the CLI into `dist`; undefined when esbuild is not installed. */
export declare function buildCli(options?: { dist?: string }): Promise<string | undefined>;
