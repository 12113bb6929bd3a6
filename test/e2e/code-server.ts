/** Test harness: a real VS Code (code-server) with the extension loaded from source, driven by Playwright + Debian's Chromium. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser, type Frame, type Page } from 'playwright-core';

/** The repository root (the extension under test). */
export const ROOT = path.resolve(__dirname, '..', '..');
/** Where screenshots go (git-ignored). */
export const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'e2e');

/** Runs scripts/e2e-setup.sh (apt + code-server install when missing) and returns code-server's entry script. */
export function setupCodeServer(): string {
  const out = execFileSync('bash', [path.join(ROOT, 'scripts', 'e2e-setup.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const entry = out.trim().split('\n').pop()!;
  if (!fs.existsSync(entry)) throw new Error(`code-server entry missing: ${entry}`);
  return entry;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** A running code-server + browser session. */
export interface Session {
  page: Page;
  browser: Browser;
  server: ChildProcess;
  port: number;
  home: string;
  workspace: string;
  logs: string[];
  close(): Promise<void>;
}

/** Closes a session, removes its workspace and saves its code-server log as `<logName>` in the artifacts folder. */
export async function endSession(session: Session | undefined, workspace: string | undefined, logName: string, label: string, t0: number): Promise<void> {
  const logs = session?.logs.join('') ?? '';
  await session?.close();
  if (workspace) fs.rmSync(workspace, { recursive: true, force: true });
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  fs.writeFileSync(path.join(ARTIFACTS, logName), logs);
  console.log(`${label} total ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

/** Starts code-server on a free port with temporary home/XDG folders and user settings, opens the workspace with the extension. */
export async function startSession(entry: string, workspace: string, settings: Record<string, unknown>, opts: { vsix?: string } = {}): Promise<Session> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ql-e2e-home-'));
  const userData = path.join(home, 'user-data');
  fs.mkdirSync(path.join(userData, 'User'), { recursive: true });
  fs.writeFileSync(path.join(userData, 'User', 'settings.json'), JSON.stringify({
    'workbench.startupEditor': 'none',
    'security.workspace.trust.enabled': false,
    'extensions.ignoreRecommendations': true,
    'telemetry.telemetryLevel': 'off',
    'workbench.tips.enabled': false,
    'update.mode': 'none',
    'window.restoreWindows': 'none',
    'git.enabled': false,
    ...settings,
  }, null, 2));
  const port = await freePort();
  const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: path.join(home, 'config'), XDG_DATA_HOME: path.join(home, 'data'), XDG_CACHE_HOME: path.join(home, 'cache'), NODE_OPTIONS: '' };
  const logs: string[] = [];
  const extensionsDir = path.join(home, 'extensions');
  if (opts.vsix) {
    // Install the packaged extension the way a user would; no extensionDevelopmentPath then.
    execFileSync(process.execPath, [entry, '--user-data-dir', userData, '--extensions-dir', extensionsDir, '--install-extension', opts.vsix], { env, stdio: 'pipe' });
  }
  const server = spawn(process.execPath, [entry, '--bind-addr', `127.0.0.1:${port}`, '--auth', 'none', '--disable-telemetry', '--disable-update-check',
    '--disable-workspace-trust', '--user-data-dir', userData, '--extensions-dir', extensionsDir, workspace], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout!.on('data', (d: Buffer) => logs.push(d.toString()));
  server.stderr!.on('data', (d: Buffer) => logs.push(d.toString()));
  const deadline = Date.now() + 60_000;
  for (;;) {
    try { const r = await fetch(`http://127.0.0.1:${port}/healthz`); if (r.ok) break; } catch { /* not yet */ }
    if (Date.now() > deadline || server.exitCode !== null) throw new Error(`code-server did not start:\n${logs.join('')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, env: { ...process.env, HOME: home },
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', '--disable-dev-shm-usage'] });
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  page.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));
  const payload = JSON.stringify([['extensionDevelopmentPath', `vscode-remote://127.0.0.1:${port}${ROOT}`]]);
  await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}${opts.vsix ? '' : `&payload=${encodeURIComponent(payload)}`}`);
  await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
  return {
    page, browser, server, port, home, workspace, logs,
    async close() {
      await browser.close().catch(() => undefined);
      try { if (server.pid) process.kill(-server.pid, 'SIGTERM'); } catch { /* gone */ }
      await new Promise((r) => setTimeout(r, 300));
      try { if (server.pid) process.kill(-server.pid, 'SIGKILL'); } catch { /* gone */ }
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}

/** Runs a command from the palette (`F1`, `>Title`, Enter). */
export async function runCommand(page: Page, title: string): Promise<void> {
  await page.keyboard.press('Escape');
  await page.locator('.monaco-workbench').click({ position: { x: 800, y: 5 } }).catch(() => undefined);
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor();
  await input.fill(`>${title}`);
  // Click the row whose label is exactly the title (fuzzy matching may rank another command first).
  const exact = new RegExp(`^\\s*${title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\s|$)`);
  const row = page.locator('.quick-input-list .monaco-list-row', { has: page.locator('.label-name', { hasText: exact }) }).first();
  await row.waitFor({ timeout: 20_000 });
  await row.click();
}

/** Opens a workspace file by Quick Open (Ctrl+P). */
export async function quickOpen(page: Page, fileName: string): Promise<void> {
  await page.keyboard.press('Escape');
  await page.keyboard.press('Control+P');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor();
  await input.fill(fileName);
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: fileName }).first();
  // The file search can stall right after start-up on a loaded machine: ask once more before failing.
  if (!(await row.waitFor({ timeout: 20_000 }).then(() => true, () => false))) {
    await page.keyboard.press('Escape');
    await page.keyboard.press('Control+P');
    await input.fill(fileName);
    await row.waitFor({ timeout: 40_000 });
  }
  await row.click();
}

/** Brings a file's editor to the front: its tab when it is open, else Quick Open. */
export async function openFile(page: Page, fileName: string): Promise<void> {
  const tab = page.locator('.tabs-container .tab', { has: page.locator('.label-name', { hasText: new RegExp(`^${fileName.replace(/\./g, '\\.')}$`) }) }).first();
  if (await tab.count()) await tab.click();
  else await quickOpen(page, fileName);
}

/** The inner frame of the visible QuantLens webview of a kind (`model`, `report`, `qat`), optionally for a model file name. */
export async function webviewFrame(page: Page, kind: string, modelName?: string, timeoutMs = 60_000): Promise<Frame> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const f of page.frames()) {
      if (!f.url().includes('fake.html') && !f.name().includes('active-frame') && !f.url().includes('active-frame')) continue;
      try {
        const boot = await f.evaluate(() => document.body?.dataset?.boot ?? '');
        if (!boot) continue;
        const b = JSON.parse(boot) as { kind: string; modelName: string };
        const visible = await f.evaluate(() => document.visibilityState === 'visible');
        if (b.kind === kind && (!modelName || b.modelName === modelName) && visible) return f;
      } catch { /* frame navigating */ }
    }
    if (Date.now() > deadline) throw new Error(`no ${kind} webview${modelName ? ` for ${modelName}` : ''} appeared`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** Saves a screenshot of the whole window to test-artifacts/e2e/<name>.png and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** Waits until `fn` returns a truthy value (polling), or fails with `what`. */
export async function until<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try { const v = await fn(); if (v) return v; } catch (e) { lastError = e; }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}
