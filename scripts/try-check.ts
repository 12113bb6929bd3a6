// Manual check of a running `npm run try`: `tsx scripts/try-check.ts '<URL printed by npm run try>' [--analyze]`.
// Opens the URL in headless Chromium, waits for the workbench and the QuantLens activity bar entry, opens
// ppocr-cls.onnx from the Explorer and waits for the model view's layer table (with --analyze, clicks Analyze and
// waits for the report's recommendation); screenshots in test-artifacts/try*.png.
// Not part of `npm test` (the e2e suite covers the same UI); exits non-zero when a step fails.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import { webviewFrame } from '../test/e2e/code-server';

const ROOT = path.resolve(__dirname, '..');
const OUT = path.join(ROOT, 'test-artifacts');

async function main(): Promise<void> {
  const url = process.argv[2];
  if (!url?.startsWith('http')) throw new Error('usage: tsx scripts/try-check.ts <URL printed by npm run try>');
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlens-try-check-'));
  const t0 = Date.now();
  const secs = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, env: { ...process.env, HOME: home },
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', '--disable-dev-shm-usage'] });
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  fs.mkdirSync(OUT, { recursive: true });
  try {
    await page.goto(url);
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    console.log(`workbench: ${secs()}`);
    await page.locator('.activitybar [aria-label^="QuantLens"]').first().waitFor({ timeout: 60_000 });
    console.log(`QuantLens activity bar entry: ${secs()}`);
    // The workspace README opens in preview a few seconds after the workbench (workbench.startupEditor: readme).
    await page.locator('.tabs-container .tab', { hasText: 'README.md' }).first().waitFor({ timeout: 30_000 });
    console.log(`README preview: ${secs()}`);
    await page.waitForTimeout(1000);
    await page.screenshot({ path: path.join(OUT, 'try-start.png') });
    const row = page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'ppocr-cls.onnx' }).first();
    await row.waitFor({ timeout: 30_000 });
    await row.click();
    const frame = await webviewFrame(page, 'model', 'ppocr-cls.onnx', 90_000);
    await frame.waitForFunction(() => (document.body.innerText || '').includes('Quantizable layers') && (document.body.innerText || '').includes('p2o.Conv.0'), undefined, { timeout: 90_000 });
    console.log(`model view with the layer table: ${secs()}`);
    await page.waitForTimeout(500);
    await page.screenshot({ path: path.join(OUT, 'try.png') });
    console.log(`screenshot: ${path.relative(ROOT, path.join(OUT, 'try.png'))}`);
    if (process.argv.includes('--analyze')) {
      await frame.locator('#analyze').click();
      const report = await webviewFrame(page, 'report', 'ppocr-cls.onnx', 90_000);
      await report.locator('.summary table').first().waitFor({ timeout: 300_000 });
      console.log(`analysis report with the recommendation: ${secs()}`);
      await page.waitForTimeout(1000);
      await page.screenshot({ path: path.join(OUT, 'try-report.png') });
    }
  } catch (e) {
    await page.screenshot({ path: path.join(OUT, 'try-FAIL.png') }).catch(() => undefined);
    throw e;
  } finally {
    await browser.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e instanceof Error ? e.message : e); process.exit(1); });
