// End-to-end, in a real VS Code (code-server) in the default light theme: the graph of a 1,033-node model, selecting a
// layer there selects it in the report's table and detail; the target changed in the panel re-chooses the
// recommendation and the export agrees; exporting a stale selection asks first; text contrast meets WCAG AA (axe-core).
// Screenshots of each step go to test-artifacts/e2e/panel-*.png.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it as nodeIt, type TestContext } from 'node:test';
import type { Frame, Page } from 'playwright-core';
import { endSession, ROOT, quickOpen, runCommand, screenshot, setupCodeServer, startSession, until, webviewFrame, type Session } from './code-server';
import { writeScopedModel } from './scoped-model';

const MODEL = 'scoped.onnx';
const LAYER = '/blocks/blocks.1/fc/MatMul';
const AXE = fs.readFileSync(path.join(ROOT, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

let session: Session | undefined;
let page: Page;
let ws: string;
let nodes = 0;
const t0 = Date.now();

type Box = { top: number; bottom: number } | undefined;
/** Where the first screen's parts are in the report webview (its own viewport). */
interface FirstScreen { height: number; scrolled: number; header: Box; firstRows: number[]; targetEditor: Box; verdict: Box; keep: Box; chart: Box; exportBtn: Box; cut: string[] }
/** Left edges of a row's name and op cells and of the header's name cell, before and after scrolling the table sideways. */
interface Sticky { before: { name: number; op: number; header: number }; after: { name: number; op: number; header: number; scrollLeft: number; headerScroll: number } }

/** A test step that leaves a screenshot when it fails. */
function it(name: string, fn: (t: TestContext) => Promise<void>): void {
  nodeIt(name, async (t) => {
    try { await fn(t); } catch (e) {
      if (page) await screenshot(page, `panel-FAIL-${name.replace(/\W+/g, '-').slice(0, 40)}`).catch(() => undefined);
      throw e;
    }
  });
}

/** Runs axe-core's colour-contrast rule (WCAG AA, 4.5:1 for text) in a webview frame; returns the violations. */
async function contrastViolations(f: Frame): Promise<string[]> {
  await f.evaluate(AXE);
  return f.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: unknown, opts: unknown) => Promise<{ violations: { nodes: { target: string[]; any: { message: string }[] }[] }[] }> } }).axe;
    const r = await axe.run(document, { runOnly: { type: 'rule', values: ['color-contrast'] }, resultTypes: ['violations'] });
    return r.violations.flatMap((v) => v.nodes.map((n) => `${n.target.join(' ')}: ${n.any.map((a) => a.message).join('; ')}`));
  });
}

describe('QuantLens panel and graph in a real VS Code', { timeout: 240_000 }, () => {
  before(async () => {
    const entry = setupCodeServer();
    ws = fs.mkdtempSync(path.join(os.tmpdir(), 'ql-e2e-panel-'));
    nodes = writeScopedModel(path.join(ws, MODEL)).nodes;
    session = await startSession(entry, ws, {
      'workbench.colorTheme': 'Default Light Modern',
      'quantlens.data.calibrationSamples': 4,
      'quantlens.threads': 1,
      'quantlens.recommendation.target': 'min-sqnr-db',
      'quantlens.recommendation.targetValue': 20,
    });
    page = session.page;
  });

  after(() => endSession(session, ws, 'panel-code-server.log', 'panel e2e', t0));

  let report: Frame;
  it('analyzes a model of more than 1,000 nodes', async () => {
    assert.ok(nodes > 1000, `${nodes} nodes`);
    await quickOpen(page, MODEL);
    await webviewFrame(page, 'model', MODEL, 90_000);
    await runCommand(page, 'QuantLens: Analyze Model');
    report = await webviewFrame(page, 'report', MODEL);
    await until('the recommendation', async () => (await report.locator('.recommendation .verdict').count()) > 0, 120_000);
    await screenshot(page, 'panel-01-report');
  });

  it('shows the layer table on the first screen, beside the decision, with a sticky name column and headers not cut', async () => {
    // Right after the analysis, nothing scrolled: where things are in the report webview's own viewport.
    // (page-side code as a string: tsx's helper names do not exist in the webview)
    const first = await report.evaluate<FirstScreen>(`(() => {
      const box = (sel) => { const el = document.querySelector(sel); if (!el) return undefined; const r = el.getBoundingClientRect(); return { top: r.top, bottom: r.bottom }; };
      return {
        height: window.innerHeight, scrolled: document.getElementById('app').scrollTop + (document.scrollingElement ? document.scrollingElement.scrollTop : 0),
        header: box('.layer-table .row.header'), firstRows: Array.from(document.querySelectorAll('.layer-table .rows .row')).slice(0, 5).map((r) => r.getBoundingClientRect().bottom),
        targetEditor: box('#target-value'), verdict: box('#verdict'), keep: box('.keep-list summary'), chart: box('.decision .pareto-figure svg'), exportBtn: box('#export'),
        cut: Array.from(document.querySelectorAll('.layer-table .row.header .cell')).filter((c) => c.scrollWidth > c.clientWidth + 1).map((c) => c.textContent),
      };
    })()`);
    assert.ok(first.height >= 800 && first.height <= 1000, `the report webview is about a 1000 px window's editor area: ${first.height} px`);
    assert.equal(first.scrolled, 0, 'nothing scrolled');
    const inView = (what: string, b: Box) => assert.ok(b && b.top >= 0 && b.bottom <= first.height, `${what} within the first screen (0–${first.height} px): ${JSON.stringify(b)}`);
    inView('the layer table header', first.header);
    assert.ok(first.firstRows.length === 5 && first.firstRows.every((bottom) => bottom <= first.height), `the first 5 rows are visible: ${first.firstRows.join(', ')} (viewport ${first.height})`);
    inView('the target editor', first.targetEditor);
    inView('the verdict', first.verdict);
    inView('the kept layers', first.keep);
    inView('the Pareto chart', first.chart);
    inView('the Export button', first.exportBtn);
    assert.deepEqual(first.cut, [], 'no header label is cut');
    await screenshot(page, 'panel-01b-first-screen');
    // The table scrolls itself; scrolled sideways the name column stays, and the header follows.
    const sticky = await report.evaluate<Sticky>(`(async () => {
      const vp = document.querySelector('.layer-table .table-viewport');
      const left = (sel) => document.querySelector(sel).getBoundingClientRect().left;
      const at = () => ({ name: left('.layer-table .rows .row .cell.name'), op: left('.layer-table .rows .row .cell.op'), header: left('.layer-table .row.header .cell.name') });
      const before = at();
      vp.scrollLeft = 200;
      await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
      return { before, after: { ...at(), scrollLeft: vp.scrollLeft, headerScroll: document.querySelector('.layer-table .header-wrap').scrollLeft } };
    })()`);
    assert.ok(sticky.after.scrollLeft > 50, `the table is wider than the panel and scrolls sideways: ${JSON.stringify(sticky)}`);
    assert.ok(Math.abs(sticky.after.name - sticky.before.name) < 1 && Math.abs(sticky.after.header - sticky.before.header) < 1, `the name column stays: ${JSON.stringify(sticky)}`);
    assert.ok(sticky.after.op < sticky.before.op - 50, `the other columns move: ${JSON.stringify(sticky)}`);
    assert.equal(sticky.after.headerScroll, sticky.after.scrollLeft, 'the header follows the body');
    await screenshot(page, 'panel-01c-sticky-name-column');
    await report.evaluate(() => { (document.querySelector('.layer-table .table-viewport') as HTMLElement).scrollLeft = 0; });
  });

  let graph: Frame;
  it('opens the graph of the model, collapsed by name scope', async () => {
    await runCommand(page, 'QuantLens: Open Graph');
    graph = await webviewFrame(page, 'graph', MODEL, 60_000);
    await graph.locator('g.gnode').first().waitFor({ timeout: 60_000 });
    const status = await graph.locator('.graph-status').innerText();
    const total = Number(/^(\d+) nodes, (\d+) drawn/.exec(status)?.[1]);
    const drawn = Number(/^(\d+) nodes, (\d+) drawn/.exec(status)?.[2]);
    assert.ok(total > 1000, status);
    assert.ok(drawn > 5 && drawn <= 80, `a readable number of items is drawn: ${status}`);
    assert.equal(await graph.locator('g.gnode').count(), drawn);
    assert.ok(await graph.locator('g.gnode.group').count() > 0, 'some scopes are collapsed');
    assert.ok(await graph.locator('text.edge-label', { hasText: /\d+×32/ }).count() > 0, 'tensor shapes on edges');
    // a collapsed scope opens on click
    const group = graph.locator('g.gnode.group').first();
    const scope = await group.getAttribute('data-name');
    await group.click();
    await until('the scope opened', async () => (await graph.locator(`g.gnode.group[data-name="${scope}"]`).count()) === 0, 20_000);
    await screenshot(page, 'panel-02-graph');
    // Fit puts the whole drawing in the canvas; + and − zoom about its centre
    const scale = async () => Number(/scale\(([\d.]+)\)/.exec((await graph.locator('g.viewport').getAttribute('transform')) ?? '')?.[1]);
    await graph.locator('#graph-fit').click();
    const fitted = await graph.evaluate<{ canvas: { top: number; bottom: number; left: number; right: number }; drawing: { top: number; bottom: number; left: number; right: number } }>(`(() => {
      const c = document.querySelector('.graph-canvas').getBoundingClientRect();
      const d = document.querySelector('g.viewport').getBoundingClientRect();
      return { canvas: { top: c.top, bottom: c.bottom, left: c.left, right: c.right }, drawing: { top: d.top, bottom: d.bottom, left: d.left, right: d.right } };
    })()`);
    assert.ok(fitted.drawing.top >= fitted.canvas.top - 1 && fitted.drawing.bottom <= fitted.canvas.bottom + 1 && fitted.drawing.left >= fitted.canvas.left - 1 && fitted.drawing.right <= fitted.canvas.right + 1, `Fit shows the whole drawing: ${JSON.stringify(fitted)}`);
    const k0 = await scale();
    await graph.locator('#graph-zoom-in').click();
    assert.ok(await scale() > k0 * 1.2, 'zoomed in');
    await graph.locator('#graph-zoom-out').click();
    assert.ok(Math.abs(await scale() - k0) < k0 * 0.01, 'zoomed back out');
    await screenshot(page, 'panel-02b-graph-fit');
  });

  it('finds a layer in the graph and selects it in the report table and detail', async () => {
    const search = graph.locator('.graph-search input');
    await search.fill('blocks.1/fc/MatMul');
    await search.press('Enter');
    await graph.locator(`g.gnode.selected[data-name="${LAYER}"]`).waitFor({ timeout: 20_000 });
    assert.match(await graph.locator('.graph-info').innerText(), /isolated SQNR/);
    await until('the report selects the layer', async () => (await report.locator('.row.selected').getAttribute('data-layer', { timeout: 2000 })) === LAYER, 20_000);
    await until('the detail shows the layer', async () => (await report.locator('.detail-title').innerText({ timeout: 2000 })) === LAYER, 20_000);
    // one node numbering: the graph's node number is the table's node column and the detail's
    const graphNumber = /node #(\d+)/.exec(await graph.locator('.graph-info').innerText())?.[1];
    assert.ok(graphNumber, 'the graph names the node number');
    assert.equal(await report.locator('.row.selected .cell.idx').innerText(), graphNumber);
    assert.match(await report.locator('.detail .meta').first().innerText(), new RegExp(`^node #${graphNumber} · `));
    // keyboard: from the selected layer, ArrowDown moves to the node it feeds
    await graph.locator('.graph-canvas').focus();
    await graph.locator('.graph-canvas').press('ArrowDown');
    await until('the next node selected', async () => (await graph.locator('g.gnode.selected').getAttribute('data-name', { timeout: 2000 })) === '/blocks/blocks.1/fc/Add', 10_000);
    await screenshot(page, 'panel-03-graph-selects-layer');
  });

  /** Sets the target in the panel (kind and value) and applies it. */
  async function setTarget(kind: string, value: number): Promise<void> {
    await report.locator('#target-kind').selectOption(kind);
    await report.locator('#target-value').fill(String(value));
    await report.locator('#target-value').press('Enter');
  }
  const keepCount = async () => Number(/Keep (\d+) of/.exec(await report.locator('.keep-list summary').innerText())?.[1]);

  it('changes the target in the panel: the recommendation is re-chosen and the export writes it', async () => {
    const before = await keepCount();
    await setTarget('min-sqnr-db', 25);
    await until('the re-chosen recommendation', async () => /Re-chosen from \d+ measured points for output SQNR ≥ 25 dB/.test(await report.locator('#decision-message').innerText({ timeout: 2000 })), 20_000);
    assert.equal(await report.locator('#verdict').innerText(), 'target met');
    const n = await keepCount();
    assert.ok(n >= before, `a higher target keeps at least as many layers: ${before} -> ${n}`);
    // the table follows: exactly the recommended layers are checked
    assert.equal(await report.locator('.row:not(.header) .keep-toggle:checked').count(), n);
    await until('the selection meets the target', async () => /meets output SQNR ≥ 25 dB/.test(await report.locator('#selection-check').innerText({ timeout: 2000 })), 20_000);
    await report.locator('.decision').scrollIntoViewIfNeeded().catch(() => undefined);
    await screenshot(page, 'panel-04-target-changed');
    await report.locator('#export').click();
    const notice = await until('the export notice', async () => { const t = await report.locator('.notice').innerText(); return /Exported/.test(t) ? t : undefined; }, 120_000);
    assert.match(notice, new RegExp(`${n} layers? in \\S+ \\(the recommendation\\)`));
    // the export measures what the panel said the selection measures (repaired layers included), and meets the target
    const said = Number(/measures output SQNR (-?[\d.]+) dB/.exec(await report.locator('#selection-check').innerText())?.[1]);
    const got = Number(/output SQNR (-?[\d.]+) dB/.exec(notice)?.[1]);
    assert.ok(Math.abs(said - got) <= 0.15, `export ${got} dB vs panel ${said} dB: ${notice}`);
    assert.match(notice, /meets output SQNR ≥ 25 dB/);
    assert.ok(fs.existsSync(path.join(ws, 'scoped.qdq.onnx')));
    await report.locator('.notice').scrollIntoViewIfNeeded().catch(() => undefined);
    await screenshot(page, 'panel-05-export-agrees');
  });

  it('asks before exporting a selection that misses the target (stale selection)', async () => {
    // Pick the largest measured configuration (from the keyboard: the Pareto points are focusable, Enter picks one),
    // then set a weights-size target only the smallest configurations meet: the recommendation follows the target,
    // the picked selection stays and is now over it (stale). A size target does not depend on what the repair
    // algorithms measure, so the scenario holds whatever they reach.
    const largest = report.locator('.pareto-point:not(.estimated)').last();
    assert.ok(Number(await largest.getAttribute('data-kept')) > 0, 'the largest measured configuration keeps layers');
    await largest.focus();
    await largest.press('Enter');
    await until('the picked point evaluated', async () => { const t = await report.locator('#selection-check').innerText({ timeout: 2000 }); return /Your selection \(\d+ layers?\) measures/.test(t) && !/evaluating/.test(t); }, 60_000);
    const smallestKiB = Number(/· ([\d.]+) KiB weights/.exec(await report.locator('.pareto-point title').first().textContent() ?? '')?.[1]);
    assert.ok(smallestKiB > 0, 'the smallest configuration names its size');
    const limit = Number((smallestKiB + 0.05).toFixed(2));
    await setTarget('max-size-bytes', limit);
    await until('the stale selection flagged', async () => /Your selection \(\d+ layers?\) (has|measures) [\d.]+ KiB of weights: (over|it misses) weights ≤/.test(await report.locator('#selection-check').innerText({ timeout: 2000 })), 60_000);
    await report.locator('#export').click();
    const dialog = page.locator('.monaco-dialog-box');
    await dialog.waitFor({ timeout: 20_000 });
    assert.match(await dialog.innerText(), /Your selection \(\d+ layers?\) (has|measures) [\d.]+ KiB of weights: (over|it misses) weights ≤ [\d.]+ KiB[\s\S]*Export it anyway\?/);
    await screenshot(page, 'panel-06-stale-export-warning');
    await dialog.locator('.monaco-button', { hasText: 'Cancel' }).click();
    await until('the cancelled notice', async () => /Export cancelled/.test(await report.locator('.notice').innerText({ timeout: 2000 })), 20_000);
    // back to the recommendation: the selection agrees with the target again
    await report.locator('#use-recommendation').click();
    await until('the selection follows the recommendation', async () => (await report.locator('#use-recommendation').count()) === 0, 20_000);
    // a target no measured configuration meets: the recommendation is the best reachable point, and exporting it asks too
    await setTarget('min-sqnr-db', 200);
    await until('the target not met', async () => (await report.locator('#verdict').innerText({ timeout: 2000 })) === 'target not met', 20_000);
    await report.locator('#export').click();
    await dialog.waitFor({ timeout: 20_000 });
    assert.match(await dialog.innerText(), /misses output SQNR ≥ 200 dB[\s\S]*Export it anyway\?[\s\S]*best reachable point/);
    assert.equal(await dialog.locator('.monaco-button', { hasText: 'Export Recommendation' }).count(), 0, 'no other point to offer');
    await screenshot(page, 'panel-06a-unreachable-target-export-warning');
    await dialog.locator('.monaco-button', { hasText: 'Cancel' }).click();
    await until('the cancelled notice', async () => /Export cancelled/.test(await report.locator('.notice').innerText({ timeout: 2000 })), 20_000);
  });

  it('has text contrast of at least 4.5:1 (WCAG AA) in the light theme', async () => {
    await page.locator('.monaco-workbench.vs').waitFor({ timeout: 10_000 });
    const graphIssues = await contrastViolations(graph);
    const reportIssues = await contrastViolations(report);
    assert.deepEqual([...graphIssues, ...reportIssues], []);
    await screenshot(page, 'panel-06b-light-contrast-checked');
  });

  for (const [theme, cls] of [['Dark Modern', 'vs-dark'], ['Dark High Contrast', 'hc-black']] as const) {
    it(`has text contrast of at least 4.5:1 in the ${theme} theme`, async () => {
      await runCommand(page, 'Preferences: Color Theme');
      await page.locator('.quick-input-widget input').fill(theme);
      await page.locator('.quick-input-list .monaco-list-row.focused', { hasText: theme }).first().waitFor({ timeout: 20_000 });
      await page.keyboard.press('Enter');
      await page.locator(`.monaco-workbench.${cls}`).waitFor({ timeout: 20_000 });
      await new Promise((r) => setTimeout(r, 1000)); // the webviews take the new theme's variables
      assert.deepEqual([...(await contrastViolations(graph)), ...(await contrastViolations(report))], []);
      await screenshot(page, `panel-0${cls === 'vs-dark' ? 7 : 8}-${cls}`);
    });
  }
});
