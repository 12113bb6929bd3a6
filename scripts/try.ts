// `npm run try`: a browser VS Code (code-server 4.100.3 = VS Code 1.100.3) on 127.0.0.1 with QuantLens loaded
// from source and a sample workspace holding real models. Run through tsx after `npm run build`.
// code-server and Chromium come from scripts/e2e-setup.sh (idempotent; the first run installs them).
// Ctrl-C stops code-server (its whole process group) and removes the temporary home folder.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseTryOptions, TRY_USAGE, workbenchUrl, type TryOptions } from './try-lib';

const ROOT = path.resolve(__dirname, '..');
const HOST = '127.0.0.1';
const MODELS = path.join(ROOT, 'node_modules', '@gutenye', 'ocr-models', 'assets');
const STATIC = path.join(ROOT, 'scripts', 'try-workspace');
const t0 = Date.now();
const secs = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
const log = (msg: string) => console.log(`[try ${secs()}] ${msg}`);

/** True when nothing listens on HOST:port. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, HOST, () => srv.close(() => resolve(true)));
  });
}

/** A port the OS says is free. */
function anyFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => { const p = (srv.address() as net.AddressInfo).port; srv.close(() => resolve(p)); });
  });
}

/** Copies src to dst unless dst already has the same size (models are large; user edits elsewhere are kept). */
function copyIfChanged(src: string, dst: string): void {
  if (!fs.existsSync(src)) throw new Error(`missing ${path.relative(ROOT, src)}: run 'npm ci' first`);
  if (fs.existsSync(dst) && fs.statSync(dst).size === fs.statSync(src).size) return;
  fs.copyFileSync(src, dst);
}

/** Copies the static files of scripts/try-workspace that are not there yet (never overwrites the user's edits). */
function copyStatic(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  for (const e of fs.readdirSync(from, { withFileTypes: true })) {
    const s = path.join(from, e.name), d = path.join(to, e.name);
    if (e.isDirectory()) copyStatic(s, d);
    else if (!fs.existsSync(d)) fs.copyFileSync(s, d);
  }
}

/** Makes the sample workspace: real PaddleOCR models from node_modules, the starter recipe, the README, the MNIST CNN. */
async function prepareWorkspace(ws: string, o: TryOptions): Promise<void> {
  if (o.reset) fs.rmSync(ws, { recursive: true, force: true });
  copyStatic(STATIC, ws);
  copyIfChanged(path.join(MODELS, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'), path.join(ws, 'ppocr-cls.onnx'));
  copyIfChanged(path.join(MODELS, 'ch_PP-OCRv4_rec_infer.onnx'), path.join(ws, 'ppocr-rec.onnx'));
  const mnist = path.join(ws, 'mnist-cnn.onnx');
  if (o.mnist && !fs.existsSync(mnist)) {
    log('training a small MNIST CNN (1 epoch on 8000 digits) with QuantLens\' trainer...');
    // Loaded here only: these pull in onnxruntime-node and the MNIST digits.
    const { loadMnistSplit, mnistCnn } = await import('../src/core/train/examples');
    const { trainFp32 } = await import('../src/core/train/mnist-experiment');
    const { saveModelFile } = await import('../src/core/onnx/model-file');
    const { train, test } = loadMnistSplit(8000, 2000);
    const fp = await trainFp32(mnistCnn(1), train, test, 1);
    saveModelFile(mnist, fp.model);
    log(`mnist-cnn.onnx: ${(100 * fp.accuracy).toFixed(1)}% on 2000 held-out digits`);
  }
}

/** Writes user settings for a first-run-free workbench into a fresh temporary home. */
function makeHome(): { home: string; userData: string; extensionsDir: string; env: NodeJS.ProcessEnv } {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlens-try-'));
  const userData = path.join(home, 'user-data');
  fs.mkdirSync(path.join(userData, 'User'), { recursive: true });
  fs.writeFileSync(path.join(userData, 'User', 'settings.json'), JSON.stringify({
    'workbench.startupEditor': 'readme',
    'security.workspace.trust.enabled': false,
    'extensions.ignoreRecommendations': true,
    'telemetry.telemetryLevel': 'off',
    'workbench.tips.enabled': false,
    'update.mode': 'none',
    'git.enabled': false,
  }, null, 2));
  const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: path.join(home, 'config'), XDG_DATA_HOME: path.join(home, 'data'), XDG_CACHE_HOME: path.join(home, 'cache'), NODE_OPTIONS: '' };
  return { home, userData, extensionsDir: path.join(home, 'extensions'), env };
}

async function main(): Promise<void> {
  let o: TryOptions;
  try { o = parseTryOptions(process.argv.slice(2), process.env); } catch (e) { console.error(String(e instanceof Error ? e.message : e)); process.exit(2); }
  if (o.help) { console.log(TRY_USAGE); return; }
  if (!fs.existsSync(path.join(ROOT, 'dist', 'extension.js'))) throw new Error('dist/extension.js is missing: run `npm run build` (npm run try does it)');

  const installed = fs.existsSync(path.join(ROOT, '.cache', 'code-server', '.installed-4.100.3'));
  log(installed ? 'code-server 4.100.3 is in .cache/code-server' : 'first run: installing code-server 4.100.3 into .cache/code-server and Chromium/ripgrep with apt-get (scripts/e2e-setup.sh, about 2 minutes)...');
  const entry = execFileSync('bash', [path.join(ROOT, 'scripts', 'e2e-setup.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop()!;

  const ws = path.resolve(ROOT, o.workspace ?? path.join('.cache', 'try-workspace'));
  await prepareWorkspace(ws, o);
  log(`sample workspace: ${ws}`);

  let port = o.port;
  if (!(await portFree(port))) {
    if (o.portExplicit) throw new Error(`port ${port} on ${HOST} is in use: pick another with --port N or QUANTLENS_TRY_PORT`);
    port = await anyFreePort();
    log(`port ${o.port} is in use; using ${port}`);
  }

  const { home, userData, extensionsDir, env } = makeHome();
  const logFile = path.join(home, 'code-server.log');
  const out = fs.openSync(logFile, 'a');
  const server: ChildProcess = spawn(process.execPath, [entry, '--bind-addr', `${HOST}:${port}`, '--auth', 'none', '--disable-telemetry',
    '--disable-update-check', '--disable-workspace-trust', '--user-data-dir', userData, '--extensions-dir', extensionsDir, ws],
  { env, detached: true, stdio: ['ignore', out, out] });
  let browser: ChildProcess | undefined;
  let stopping = false;
  const stop = (code: number) => {
    if (stopping) return;
    stopping = true;
    try { if (server.pid) process.kill(-server.pid, 'SIGTERM'); } catch { /* already gone */ }
    try { if (browser?.pid) process.kill(-browser.pid, 'SIGTERM'); } catch { /* already gone */ }
    setTimeout(() => {
      try { if (server.pid) process.kill(-server.pid, 'SIGKILL'); } catch { /* already gone */ }
      fs.rmSync(home, { recursive: true, force: true });
      process.exit(code);
    }, 500);
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => { console.log('\nstopping code-server...'); stop(0); });
  process.on('exit', () => { try { if (server.pid && !stopping) process.kill(-server.pid, 'SIGKILL'); } catch { /* gone */ } });
  server.on('exit', (c) => {
    if (stopping) return;
    console.error(`code-server exited (${c}); its log:\n${fs.readFileSync(logFile, 'utf8').slice(-4000)}`);
    stop(1);
  });

  const deadline = Date.now() + 60_000;
  for (;;) {
    try { if ((await fetch(`http://${HOST}:${port}/healthz`)).ok) break; } catch { /* not yet */ }
    if (Date.now() > deadline) { console.error(`code-server did not answer on /healthz in 60 s; log:\n${fs.readFileSync(logFile, 'utf8').slice(-4000)}`); stop(1); return; }
    await new Promise((r) => setTimeout(r, 250));
  }

  const url = workbenchUrl(HOST, port, ws, ROOT);
  const line = '─'.repeat(72);
  console.log(`\n${line}\n QuantLens in a browser VS Code is ready (${secs()}). Open this URL:\n\n ${url}\n\n` +
    ` Click ppocr-cls.onnx in the Explorer; the workspace README says what else to try.\n` +
    ` Only ${HOST} is bound; from another machine: ssh -L ${port}:${HOST}:${port} <this host>, then the same URL.\n` +
    ` code-server log: ${logFile}\n Ctrl-C stops it.\n${line}\n`);

  if (o.open) {
    const exe = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => fs.existsSync(p));
    if (!exe) log('--open: no Chromium found; open the URL yourself');
    else {
      browser = spawn(exe, [`--user-data-dir=${path.join(home, 'chromium')}`, '--no-first-run', '--disable-sync', `--app=${url}`],
        { env: { ...process.env, HOME: home }, detached: true, stdio: 'ignore' });
      browser.on('error', (e) => log(`--open: ${e.message}`));
    }
  }
}

main().catch((e) => { console.error(`npm run try: ${e instanceof Error ? e.message : e}`); process.exit(1); });
