#!/usr/bin/env node
// The quantlens command: runs the bundled CLI (build it with `node esbuild.mjs`); see runCliProcess for its restart.
require('../dist/cli.js').runCliProcess(process.argv.slice(2));
