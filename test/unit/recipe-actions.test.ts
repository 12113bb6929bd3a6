import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CodeAction, Diagnostic, TextEdit } from 'vscode-languageserver';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { pathToFileURL } from 'url';
import { recipeCodeActions, recipeCodeLenses, recipeDocumentLinks, RECIPE_COMMANDS, removePropertyEdit } from '../../src/engine/recipe/actions';
import { recipeDiagnostics } from '../../src/engine/recipe/diagnostics';
import { modelIndex, reportIndex } from '../../src/engine/recipe/indexes';
import { parseRecipeText } from '../../src/engine/recipe/parse';
import * as path from 'path';
import { SPREAD_WARN } from '../../src/engine/recipe/validate';
import { CLS_MODEL, CLS_REL, clsRecipe, loadFixtureModel, RECIPES_DIR, recipeDocument, REC_MODEL, syntheticReport } from '../fixtures/recipes/fixture-model';

const cls = loadFixtureModel(CLS_MODEL);
const model = modelIndex(cls);
const rawReport = syntheticReport(cls);
const report = reportIndex(rawReport);

interface Setup { document: TextDocument; recipePath: string; diagnostics: Diagnostic[] }
function setup(text: string, withReport = false): Setup {
  const { document, recipePath } = recipeDocument(text);
  return { document, recipePath, diagnostics: recipeDiagnostics(document, { recipePath, model, report: withReport ? report : undefined }) };
}
function actionsFor(s: Setup, code: string, withReport = false): CodeAction[] {
  const d = s.diagnostics.find((x) => x.code === code);
  assert.ok(d, `no ${code} diagnostic in ${JSON.stringify(s.diagnostics.map((x) => x.code))}`);
  return recipeCodeActions(s.document, d.range, [d], { recipePath: s.recipePath, model, report: withReport ? report : undefined });
}
/** The document text after applying an action's edits. */
function apply(s: Setup, a: CodeAction): string {
  const edits = a.edit!.changes![s.document.uri] as TextEdit[];
  return TextDocument.applyEdits(s.document, edits);
}
const valid = (text: string) => JSON.parse(text) as { layers: Record<string, unknown>; defaults: Record<string, unknown>; version: number };

test('unknown layer: replace with the closest name, or remove it, leaving valid JSON', () => {
  const s = setup(clsRecipe({ 'p2o.Conv.0': 'float', 'p2o.Conv.3x': { weights: 'int8/per-channel' }, 'p2o.Conv.1': 'float' }));
  const actions = actionsFor(s, 'unknown-layer');
  const replace = actions.find((a) => a.title === "Replace with closest name 'p2o.Conv.3'")!;
  assert.equal(replace.isPreferred, true);
  const fixed = valid(apply(s, replace));
  assert.deepEqual(Object.keys(fixed.layers), ['p2o.Conv.0', 'p2o.Conv.3', 'p2o.Conv.1']);
  const after = setup(apply(s, replace));
  assert.deepEqual(after.diagnostics.filter((d) => d.code === 'unknown-layer'), []);
  const removed = valid(apply(s, actions.find((a) => a.title.startsWith('Remove unknown layer'))!));
  assert.deepEqual(Object.keys(removed.layers), ['p2o.Conv.0', 'p2o.Conv.1']);
});

test('removing the last or the only property keeps the JSON valid', () => {
  for (const layers of [{ a: 'float', b: 'float' }, { b: 'float' }]) {
    const text = clsRecipe(layers);
    const doc = parseRecipeText(text);
    const { document } = recipeDocument(text);
    const entry = doc.layers.find((e) => e.key === 'b')!;
    const out = valid(TextDocument.applyEdits(document, [removePropertyEdit(document, text, entry.prop)]));
    assert.deepEqual(Object.keys(out.layers), Object.keys(layers).filter((k) => k !== 'b'));
  }
});

test('sensitive layer: keep it at the higher format or in float, or apply the recommendation', () => {
  const worst = rawReport.layers.find((l) => l.rank === 1)!;
  const s = setup(clsRecipe({ [worst.name]: { weights: 'int4/per-channel', calibration: 'mse' } }, { weights: 'int8/per-channel', activations: 'uint8' }), true);
  const actions = actionsFor(s, 'sensitive-layer', true);
  const keep = actions.find((a) => a.title.startsWith(`Keep '${worst.name}' at higher precision`))!;
  assert.deepEqual(valid(apply(s, keep)).layers[worst.name], { weights: 'int8/per-channel', activations: 'uint8', calibration: 'mse' });
  assert.deepEqual(setup(apply(s, keep), true).diagnostics.filter((d) => d.code === 'sensitive-layer'), []);
  const float = actions.find((a) => a.title === `Keep '${worst.name}' in float`)!;
  assert.equal(valid(apply(s, float)).layers[worst.name], 'float');
  const rec = actions.find((a) => a.title.startsWith('Apply the recommendation'))!;
  const applied = valid(apply(s, rec));
  assert.deepEqual(applied.layers, rawReport.recommendation!.recipe.layers);
  assert.equal(applied.defaults.weights, rawReport.recommendation!.recipe.defaults.weights);
});

test('sensitive defaults: add overrides for the listed layers', () => {
  const s = setup(clsRecipe({ 'p2o.Conv.0': 'float' }), true);
  const d = s.diagnostics.find((x) => x.code === 'sensitive-defaults')!;
  const names = (d.data as { layers: string[] }).layers;
  const a = actionsFor(s, 'sensitive-defaults', true).find((x) => x.title.startsWith(`Keep the ${names.length} sensitive`))!;
  const out = valid(apply(s, a));
  for (const n of names) assert.deepEqual(out.layers[n], { weights: 'int8/per-channel', activations: 'uint8' });
  assert.equal(out.layers['p2o.Conv.0'], 'float');
  assert.deepEqual(setup(apply(s, a), true).diagnostics.filter((x) => String(x.code).startsWith('sensitive')), []);
});

test('apply the recommendation is offered without a diagnostic when a report exists', () => {
  const s = setup(clsRecipe({}));
  const none = recipeCodeActions(s.document, { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, [], { recipePath: s.recipePath, model });
  assert.deepEqual(none, []);
  const acts = recipeCodeActions(s.document, { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, [], { recipePath: s.recipePath, model, report });
  assert.equal(acts.length, 1);
  assert.match(acts[0].title, new RegExp(`keep ${rawReport.recommendation!.keep.length} layers at int8/per-channel`));
  assert.deepEqual(valid(apply(s, acts[0])).layers, rawReport.recommendation!.recipe.layers);
});

test('other fixes: unknown field, version, short form, float weights, duplicates, missing field', () => {
  let s = setup(JSON.stringify({ version: 1, model: CLS_REL, defaults: { wieghts: 'int8' }, layers: {} }, null, 2));
  assert.deepEqual(valid(apply(s, actionsFor(s, 'unknown-field')[0])).defaults, { weights: 'int8' });
  s = setup(clsRecipe({}).replace('"version": 1', '"version": 3'));
  assert.equal(valid(apply(s, actionsFor(s, 'unsupported-version')[0])).version, 1);
  s = setup(clsRecipe({ 'p2o.Conv.0': 'int8' }));
  assert.deepEqual(valid(apply(s, actionsFor(s, 'layer-short-form')[0])).layers['p2o.Conv.0'], { weights: 'int8' });
  s = setup(clsRecipe({ 'p2o.Conv.0': { weights: 'float' } }));
  assert.equal(valid(apply(s, actionsFor(s, 'float-weights-int-activations')[0])).layers['p2o.Conv.0'], 'float');
  s = setup(`{ "version": 1, "model": "${CLS_REL}", "defaults": {}, "layers": { "p2o.Conv.0": "float", "p2o.Conv.0": { "weights": "int8" } } }`);
  assert.deepEqual(valid(apply(s, actionsFor(s, 'duplicate-key')[0])).layers, { 'p2o.Conv.0': { weights: 'int8' } });
  s = setup(`{ "model": "${CLS_REL}", "layers": {} }`);
  assert.equal(valid(apply(s, actionsFor(s, 'missing-field')[0])).version, 1);
});

test('code lenses: analyze, QAT and export on the file; show in report per model layer', () => {
  const worst = rawReport.layers.find((l) => l.rank === 1)!;
  const s = setup(clsRecipe({ [worst.name]: 'float', 'not-a-layer': 'float' }));
  const lenses = recipeCodeLenses(s.document, { recipePath: s.recipePath, model, report });
  const cmds = lenses.map((l) => l.command!.command);
  assert.deepEqual(cmds.slice(0, 3), [RECIPE_COMMANDS.analyze, RECIPE_COMMANDS.runQat, RECIPE_COMMANDS.export]);
  for (const l of lenses.slice(0, 3)) assert.deepEqual(l.command!.arguments, [s.document.uri]);
  const show = lenses.filter((l) => l.command!.command === RECIPE_COMMANDS.showLayer);
  assert.equal(show.length, 1);
  assert.deepEqual(show[0].command!.arguments, [{ model: CLS_MODEL, layer: worst.name }]);
  assert.match(show[0].command!.title, /rank 1/);
});

test('document links point the model path at the model file', () => {
  const s = setup(clsRecipe({}));
  const links = recipeDocumentLinks(s.document, { recipePath: s.recipePath });
  assert.equal(links.length, 1);
  assert.equal(s.document.getText(links[0].range), CLS_REL);
  assert.equal(links[0].target, pathToFileURL(CLS_MODEL).toString());
});

test('per-tensor spread: switch the layer or the defaults to per-channel, or override the listed layers', () => {
  const rec = loadFixtureModel(REC_MODEL);
  const recModel = modelIndex(rec);
  const recRel = path.relative(RECIPES_DIR, REC_MODEL);
  const wide = rec.inventory.filter((l) => (l.weightStats?.channelRangeSpread ?? 0) >= SPREAD_WARN).map((l) => l.name);
  const mk = (obj: unknown): Setup => {
    const { document, recipePath } = recipeDocument(JSON.stringify(obj, null, 2));
    return { document, recipePath, diagnostics: recipeDiagnostics(document, { recipePath, model: recModel }) };
  };
  const act = (s: Setup) => {
    const d = s.diagnostics.find((x) => x.code === 'per-tensor-spread')!;
    return recipeCodeActions(s.document, d.range, [d], { recipePath: s.recipePath, model: recModel });
  };
  let s = mk({ version: 1, model: recRel, defaults: {}, layers: { [wide[0]]: { weights: 'int8/per-tensor', calibration: 'mse' } } });
  assert.deepEqual(valid(apply(s, act(s)[0])).layers[wide[0]], { weights: 'int8/per-channel', calibration: 'mse' });
  s = mk({ version: 1, model: recRel, defaults: { weights: 'int8/per-tensor' }, layers: {} });
  const [byDefault, perLayer] = act(s);
  assert.equal(valid(apply(s, byDefault)).defaults.weights, 'int8/per-channel');
  const out = valid(apply(s, perLayer));
  assert.deepEqual(Object.keys(out.layers).sort(), [...wide].sort());
  const after = mk(out);
  assert.deepEqual(after.diagnostics.filter((x) => x.code === 'per-tensor-spread'), []);
});

test('on any layer entry: keep it at the recommended higher precision or in float (refactorings)', () => {
  const text = clsRecipe({ 'p2o.Conv.5': { weights: 'int4/per-channel', calibration: 'mse' } });
  const s = setup(text, true);
  const at = s.document.positionAt(text.indexOf('"p2o.Conv.5"') + 2);
  const acts = recipeCodeActions(s.document, { start: at, end: at }, [], { recipePath: s.recipePath, model, report });
  const higher = acts.find((a) => a.title === "Keep 'p2o.Conv.5' at higher precision (int8/per-channel / uint8)")!;
  assert.equal(higher.kind, 'refactor.rewrite');
  assert.deepEqual(valid(apply(s, higher)).layers['p2o.Conv.5'], { weights: 'int8/per-channel', activations: 'uint8', calibration: 'mse' });
  assert.equal(valid(apply(s, acts.find((a) => a.title === "Keep 'p2o.Conv.5' in float")!)).layers['p2o.Conv.5'], 'float');
  const already = setup(clsRecipe({ 'p2o.Conv.5': { weights: 'int8/per-channel' } }), true);
  const acts2 = recipeCodeActions(already.document, { start: at, end: at }, [], { recipePath: already.recipePath, model, report });
  assert.ok(!acts2.some((a) => a.title.includes('higher precision')), 'not offered when already at the higher format');
});
