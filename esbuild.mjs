// Builds every entry point: the extension and engine (node), the CLI and demo (node), the webview (browser).
// `node esbuild.mjs [--production] [--watch]`. onnxruntime-node and vscode stay external.
import * as esbuild from 'esbuild';
import { existsSync } from 'node:fs';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

const nodeEntries = {
  extension: 'src/extension/extension.ts',
  engine: 'src/engine/main.ts',
  'engine-worker': 'src/engine/worker.ts',
  cli: 'src/cli/main.ts',
  demo: 'scripts/demo.ts',
};
const webEntries = {
  webview: 'webview/main.ts',
};
const present = (entries) => Object.fromEntries(Object.entries(entries).filter(([, f]) => existsSync(f)));

const common = { bundle: true, sourcemap: !production, minify: production, logLevel: 'warning', outdir: 'dist' };
const contexts = [
  await esbuild.context({ ...common, entryPoints: present(nodeEntries), platform: 'node', format: 'cjs', target: 'node20', mainFields: ['module', 'main'], external: ['vscode', 'onnxruntime-node'] }),
];
if (Object.keys(present(webEntries)).length) {
  contexts.push(await esbuild.context({ ...common, entryPoints: present(webEntries), platform: 'browser', format: 'iife', target: 'es2022', loader: { '.css': 'text' } }));
}
if (watch) {
  await Promise.all(contexts.map((c) => c.watch()));
} else {
  for (const c of contexts) { await c.rebuild(); await c.dispose(); }
}
