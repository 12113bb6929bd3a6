#!/usr/bin/env node
// The quantlens command: runs the bundled CLI (build it with `node esbuild.mjs`).
const { runCli } = require('../dist/cli.js');
runCli(process.argv.slice(2)).then((code) => { process.exitCode = code; });
