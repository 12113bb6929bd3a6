import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'fs';
import * as path from 'path';
import { recipeCodeActions, recipeCodeLenses, recipeDocumentLinks } from '../../src/engine/recipe/actions';
import { recipeCompletions } from '../../src/engine/recipe/completion';
import { recipeDiagnostics } from '../../src/engine/recipe/diagnostics';
import { recipeHover } from '../../src/engine/recipe/hover';
import { modelIndex, reportIndex } from '../../src/engine/recipe/indexes';
import { parseRecipeText } from '../../src/engine/recipe/parse';
import { CLS_MODEL, loadFixtureModel, RECIPES_DIR, recipeDocument, syntheticReport } from '../fixtures/recipes/fixture-model';

const cls = loadFixtureModel(CLS_MODEL);
const input = { model: modelIndex(cls), report: reportIndex(syntheticReport(cls)) };

/** Deterministic pseudo-random integers in [0, n). */
function rng(seed: number): (n: number) => number {
  let s = seed;
  return (n) => { s = (s * 1103515245 + 12345) % 2147483648; return s % n; };
}

/** Runs every feature at a few offsets of `text`; returns how many diagnostics came out. */
function exercise(text: string, offsets: number[]): number {
  const { document, recipePath } = recipeDocument(text);
  const doc = parseRecipeText(text);
  const all = { ...input, doc, recipePath };
  const ds = recipeDiagnostics(document, all);
  for (const o of offsets) {
    const at = Math.min(o, text.length);
    recipeCompletions(document, at, { ...all, listDir: () => [] });
    recipeHover(document, at, all);
    const pos = document.positionAt(at);
    const actions = recipeCodeActions(document, { start: pos, end: pos }, ds, all);
    for (const a of actions) for (const edits of Object.values(a.edit?.changes ?? {})) for (const e of edits) assert.ok(document.offsetAt(e.range.start) <= document.offsetAt(e.range.end));
  }
  recipeCodeLenses(document, all);
  recipeDocumentLinks(document, all);
  return ds.length;
}

test('no feature throws on any prefix of a recipe (typing it from scratch)', () => {
  const text = readFileSync(path.join(RECIPES_DIR, 'cls-errors.qrecipe.json'), 'utf8');
  for (let n = 0; n <= text.length; n += 5) exercise(text.slice(0, n), [0, n >> 1, n]);
});

test('no feature throws on random deletions, duplications and junk', () => {
  const base = readFileSync(path.join(RECIPES_DIR, 'cls.qrecipe.json'), 'utf8');
  const r = rng(42);
  const junk = ['"', '{', '}', ',', ':', '[', ']', '"p2o.Conv.', 'float', '\n', '//', '/*', '1e999', 'null', '"weights": ', '\\'];
  let total = 0;
  for (let i = 0; i < 100; i++) {
    let t = base;
    for (let k = 0; k < 3; k++) {
      const a = r(t.length + 1);
      const op = r(3);
      if (op === 0) t = t.slice(0, a) + t.slice(Math.min(t.length, a + 1 + r(12)));
      else if (op === 1) t = t.slice(0, a) + t.slice(a, a + r(20)) + t.slice(a);
      else t = t.slice(0, a) + junk[r(junk.length)] + t.slice(a);
    }
    total += exercise(t, [r(t.length + 1), r(t.length + 1), t.length]);
  }
  assert.ok(total > 0, 'the mutations produce diagnostics');
});
