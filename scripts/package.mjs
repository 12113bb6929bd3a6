// `npm run package`: production build, then a linux-x64 .vsix (offline) holding the bundles and onnxruntime-node
// with only its linux-x64 binaries; fails when the native binding or a bundle is missing from the .vsix.
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const target = 'linux-x64';
const out = join(root, `${pkg.name}-${target}-${pkg.version}.vsix`);

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' } });
  if (r.status !== 0) { console.error(`package: ${cmd} ${args.join(' ')} failed (${r.status ?? r.signal})`); process.exit(1); }
}

const binding = 'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node';
if (!existsSync(join(root, binding))) { console.error(`package: ${binding} is missing: onnxruntime-node has no ${target} binding here`); process.exit(1); }

run(process.execPath, ['esbuild.mjs', '--production']);
run(process.execPath, [require.resolve('@vscode/vsce/vsce'), 'package', '--target', target, '--out', out, '--allow-missing-repository', '--skip-license', '--allow-star-activation', '--no-rewrite-relative-links']);

// Check what went in.
const yauzl = require('yauzl');
const entries = await new Promise((resolve, reject) => {
  yauzl.open(out, { lazyEntries: true }, (err, zip) => {
    if (err) return reject(err);
    const names = [];
    zip.on('entry', (e) => { names.push(e.fileName); zip.readEntry(); });
    zip.on('end', () => resolve(names));
    zip.on('error', reject);
    zip.readEntry();
  });
});
const must = [
  'extension/package.json', 'extension/dist/extension.js', 'extension/dist/engine.js', 'extension/dist/engine-worker.js', 'extension/dist/webview.js', 'extension/media/webview.css',
  `extension/${binding}`, 'extension/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1',
  'extension/node_modules/onnxruntime-node/dist/index.js', 'extension/node_modules/onnxruntime-common/dist/cjs/index.js', 'extension/node_modules/onnxruntime-common/dist/cjs/package.json',
];
const missing = must.filter((m) => !entries.includes(m));
const foreign = entries.filter((e) => /onnxruntime-node\/bin\//.test(e) && !e.includes('/linux/x64/'));
const dev = entries.filter((e) => /^extension\/(src|test|webview|scripts|bench)\//.test(e) || e.endsWith('.map'));
if (missing.length || foreign.length || dev.length) {
  if (missing.length) console.error(`package: missing from the .vsix:\n  ${missing.join('\n  ')}`);
  if (foreign.length) console.error(`package: other platforms' binaries in the .vsix:\n  ${foreign.join('\n  ')}`);
  if (dev.length) console.error(`package: dev files in the .vsix:\n  ${dev.slice(0, 20).join('\n  ')}`);
  process.exit(1);
}
// Smoke test: unpack the .vsix and load onnxruntime-node and the engine bundle from it with plain node.
const unpacked = mkdtempSync(join(tmpdir(), 'ql-vsix-'));
try {
  await new Promise((resolve, reject) => {
    yauzl.open(out, { lazyEntries: true }, (err, zip) => {
      if (err) return reject(err);
      zip.on('entry', (e) => {
        if (e.fileName.endsWith('/')) { zip.readEntry(); return; }
        const dest = join(unpacked, e.fileName);
        if (!dest.startsWith(unpacked)) return reject(new Error(`bad entry ${e.fileName}`));
        mkdirSync(dirname(dest), { recursive: true });
        zip.openReadStream(e, (err2, stream) => {
          if (err2) return reject(err2);
          stream.pipe(createWriteStream(dest)).on('finish', () => zip.readEntry()).on('error', reject);
        });
      });
      zip.on('end', resolve);
      zip.on('error', reject);
      zip.readEntry();
    });
  });
  const ext = join(unpacked, 'extension');
  const probe = "const ort = require('./node_modules/onnxruntime-node'); if (typeof ort.InferenceSession?.create !== 'function') process.exit(3);";
  const r = spawnSync(process.execPath, ['-e', probe], { cwd: ext, encoding: 'utf8' });
  if (r.status !== 0) { console.error(`package: onnxruntime-node does not load from the .vsix:\n${r.stderr}`); process.exit(1); }
} finally {
  rmSync(unpacked, { recursive: true, force: true });
}
console.log(`package: ${out} (${(statSync(out).size / 1048576).toFixed(1)} MiB, ${entries.length} files, linux-x64 binding present)`);
