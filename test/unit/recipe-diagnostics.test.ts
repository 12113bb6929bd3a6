import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'fs';
import * as path from 'path';
import { Diagnostic, DiagnosticSeverity, DiagnosticTag } from 'vscode-languageserver';
import { parseFormat } from '../../src/shared/formats';
import { parseCalibration } from '../../src/shared/recipe';
import { recipeDiagnostics } from '../../src/engine/recipe/diagnostics';
import { atLeastAsPrecise, modelIndex, reportIndex } from '../../src/engine/recipe/indexes';
import { SPREAD_WARN } from '../../src/engine/recipe/validate';
import { CLS_MODEL, CLS_REL, clsRecipe, loadFixtureModel, RECIPES_DIR, recipeDocument, REC_MODEL, syntheticReport } from '../fixtures/recipes/fixture-model';

const cls = loadFixtureModel(CLS_MODEL);
const report = syntheticReport(cls);

/** Our diagnostics always carry plain-text messages. */
type D = Diagnostic & { message: string };

function diagnose(text: string, opts: { report?: boolean; model?: typeof cls; name?: string } = {}): D[] {
  const { document, recipePath } = recipeDocument(text, opts.name);
  const m = opts.model ?? cls;
  return <D[]>recipeDiagnostics(document, { recipePath, model: modelIndex(m), report: opts.report ? reportIndex(syntheticReport(m)) : undefined });
}
const codes = (ds: Diagnostic[]) => ds.map((d) => d.code);
const one = (ds: D[], code: string) => {
  const hits = ds.filter((d) => d.code === code);
  assert.equal(hits.length, 1, `expected one ${code} in ${JSON.stringify(ds.map((d) => [d.code, d.message]))}`);
  return hits[0];
};
const textAt = (text: string, d: Diagnostic) => {
  const lines = text.split('\n');
  assert.equal(d.range.start.line, d.range.end.line);
  return lines[d.range.start.line].slice(d.range.start.character, d.range.end.character);
};

test('the fixture recipe for the cls model is clean', () => {
  const text = readFileSync(path.join(RECIPES_DIR, 'cls.qrecipe.json'), 'utf8');
  const ds = diagnose(text, { name: 'cls.qrecipe.json' });
  assert.deepEqual(ds.filter((d) => d.severity! <= DiagnosticSeverity.Warning), []);
});

test('JSON syntax errors are errors; trailing commas are warnings; comments are allowed', () => {
  const ds = diagnose('{ "version": 1, "model": "x.onnx" "layers": {} }');
  assert.match(one(ds, 'json-syntax').message, /comma expected/);
  const trailing = one(diagnose('{ "version": 1, }'), 'trailing-comma');
  assert.equal(trailing.severity, DiagnosticSeverity.Warning);
  assert.equal(textAt('{ "version": 1, }', trailing), ',');
  const commented = `{\n  // why this model\n  "version": 1, /* v1 */ "model": "${CLS_REL}", "layers": { "p2o.Conv.0": "float" }\n}`;
  assert.deepEqual(diagnose(commented), []);
  assert.equal(one(diagnose('[1, 2]'), 'not-object').severity, DiagnosticSeverity.Error);
});

test('unknown fields at every level are reported with the closest field name', () => {
  const text = JSON.stringify({ version: 1, model: CLS_REL, defualts: {}, defaults: { wieghts: 'int8' }, layers: { 'p2o.Conv.0': { weights: 'int8', activation: 'uint8' } } }, null, 2);
  const ds = diagnose(text).filter((d) => d.code === 'unknown-field');
  assert.deepEqual(ds.map((d) => textAt(text, d)), ['"defualts"', '"wieghts"', '"activation"']);
  assert.match(ds[0].message, /did you mean 'defaults'/);
  assert.match(ds[1].message, /did you mean 'weights'/);
  assert.match(ds[2].message, /did you mean 'activations'/);
  assert.deepEqual((ds[2].data as { suggestions: string[] }).suggestions, ['activations']);
});

test('missing fields, wrong types and an unsupported version', () => {
  assert.deepEqual(diagnose('{ "layers": {} }').filter((d) => d.code === 'missing-field').map((d) => (d.data as { suggestions: string[] }).suggestions[0]), ['version', 'model']);
  const text = JSON.stringify({ version: '1', model: CLS_REL, samples: -3, defaults: [], layers: { 'p2o.Conv.0': 8 }, notes: 5 });
  const wrong = diagnose(text).filter((d) => d.code === 'wrong-type').map((d) => d.message);
  assert.equal(wrong.length, 5);
  for (const f of ['version', 'samples', 'defaults', 'p2o.Conv.0', 'notes']) assert.ok(wrong.some((m) => m.includes(f)), f);
  const v2 = one(diagnose(clsRecipe({}).replace('"version": 1', '"version": 2')), 'unsupported-version');
  assert.match(v2.message, /version 2 is not supported/);
});

test('a layer not in the model is an error that suggests the closest names', () => {
  const text = clsRecipe({ 'p2o.Conv.3x': { weights: 'int8/per-channel' } });
  const d = one(diagnose(text), 'unknown-layer');
  assert.equal(textAt(text, d), '"p2o.Conv.3x"');
  const suggestions = (d.data as { suggestions: string[] }).suggestions;
  assert.equal(suggestions[0], 'p2o.Conv.3');
  assert.ok(suggestions.every((s) => cls.inventory.some((l) => l.name === s)));
  assert.match(d.message, /did you mean 'p2o\.Conv\.3'/);
});

test('a node that is not quantizable is an error (export rejects it)', () => {
  const bn = cls.graph.nodes.find((n) => n.opType === 'BatchNormalization')!.name;
  const d = one(diagnose(clsRecipe({ [bn]: 'float' })), 'not-quantizable');
  assert.equal(d.severity, DiagnosticSeverity.Error);
  assert.match(d.message, /BatchNormalization/);
});

test('invalid formats carry the format parser message', () => {
  for (const bad of ['float3', 'int17', 'int4/block:1', 'int8/per-row']) {
    const text = clsRecipe({ 'p2o.Conv.0': { weights: bad } });
    const d = one(diagnose(text), 'invalid-format');
    const expected = parseFormat(bad);
    assert.equal(expected.ok, false);
    if (!expected.ok) assert.ok(d.message.includes(expected.error), d.message);
    assert.equal(textAt(text, d), JSON.stringify(bad));
  }
  const d = one(diagnose(clsRecipe({}, { weights: 'int8', activations: 'uint8/per-channel' })), 'activation-granularity');
  assert.match(d.message, /per tensor/);
  const qat = one(diagnose(clsRecipe({ 'p2o.Conv.0': { weights: 'float16', activations: 'float16' } }, { weights: 'int8', activations: 'bfloat16' })).filter((d) => d.message.includes("'bfloat16'")), 'qat-integer-only');
  assert.equal(qat.severity, DiagnosticSeverity.Information);
  assert.equal(diagnose(clsRecipe({ 'p2o.Conv.0': { weights: 'float16', activations: 'float16' } })).filter((d) => d.code === 'qat-integer-only').length, 2);
  const short = one(diagnose(clsRecipe({ 'p2o.Conv.0': 'int8' })), 'layer-short-form');
  assert.match(short.message, /"weights": "int8"/);
});

test('invalid calibration settings carry the calibration parser message', () => {
  for (const bad of ['percentile:20', 'median']) {
    const d = one(diagnose(clsRecipe({}, { weights: 'int8', calibration: bad })), 'invalid-calibration');
    const expected = parseCalibration(bad);
    if (!expected.ok) assert.ok(d.message.includes(expected.error));
  }
  assert.deepEqual(diagnose(clsRecipe({}, { weights: 'int8', calibration: 'percentile:99.9' })).filter((d) => d.severity === DiagnosticSeverity.Error), []);
});

test('contradictory overrides: duplicates, float weights with integer activations, unused calibration, redundant entries', () => {
  const dup = `{ "version": 1, "model": "${CLS_REL}", "defaults": {}, "layers": { "p2o.Conv.0": "float", "p2o.Conv.1": {}, "p2o.Conv.0": { "weights": "int4" } } }`;
  const d = one(diagnose(dup), 'duplicate-key');
  assert.match(d.message, /kept "float" and also given formats/);
  assert.equal(d.range.start.character, dup.indexOf('"p2o.Conv.0"'));
  const mixed = one(diagnose(clsRecipe({ 'p2o.Conv.0': { weights: 'float' } })), 'float-weights-int-activations');
  assert.match(mixed.message, /float weights but quantizes its activations to uint8/);
  assert.equal(mixed.severity, DiagnosticSeverity.Warning);
  const unused = one(diagnose(clsRecipe({ 'p2o.Conv.0': { activations: 'float', calibration: 'mse' } })), 'calibration-unused');
  assert.deepEqual(unused.tags, [DiagnosticTag.Unnecessary]);
  const redundant = one(diagnose(clsRecipe({ 'p2o.Conv.0': { weights: 'int4/per-channel' } })), 'redundant-override');
  assert.equal(redundant.severity, DiagnosticSeverity.Hint);
  const rootDup = diagnose('{ "version": 1, "version": 1 }').filter((x) => x.code === 'duplicate-key');
  assert.equal(rootDup.length, 1);
});

test('weights on a layer without constant weights and oversized blocks are flagged', () => {
  const rec = loadFixtureModel(REC_MODEL);
  const act = rec.inventory.find((l) => l.kind === 'matmul-activations')!;
  const text = JSON.stringify({ version: 1, model: path.relative(RECIPES_DIR, REC_MODEL), defaults: {}, layers: { [act.name]: { weights: 'int4/per-channel' } } });
  assert.match(one(diagnose(text, { model: rec }), 'no-weights').message, /no constant weight tensor/);
  const dw = cls.inventory.find((l) => l.kind === 'depthwise-conv')!;
  assert.match(one(diagnose(clsRecipe({ [dw.name]: { weights: 'int4/block:32' } })), 'block-size').message, /same as per-channel/);
});

test('model and data paths are checked relative to the recipe folder', () => {
  const d = one(diagnose(clsRecipe({}).replace(CLS_REL, 'missing/model.onnx')), 'model-not-found');
  assert.ok(d.message.includes(path.join(RECIPES_DIR, 'missing/model.onnx')));
  assert.equal(d.severity, DiagnosticSeverity.Error);
  const text = JSON.stringify({ version: 1, model: CLS_REL, data: 'no-such-folder', defaults: {}, layers: {} });
  assert.equal(one(diagnose(text), 'data-not-found').severity, DiagnosticSeverity.Warning);
  assert.deepEqual(diagnose(text.replace('no-such-folder', '.')).filter((x) => x.code === 'data-not-found'), []);
});

test('a layer forced to low precision that the analysis finds highly sensitive gets a warning with the numbers', () => {
  const worst = report.layers.find((l) => l.rank === 1)!;
  const text = clsRecipe({ [worst.name]: { weights: 'int4/per-channel' } }, { weights: 'int8/per-channel', activations: 'uint8' });
  const d = one(diagnose(text, { report: true }), 'sensitive-layer');
  assert.equal(d.severity, DiagnosticSeverity.Warning);
  assert.ok(d.message.includes(`${worst.formats['w4-pc'].isolated!.sqnrDb.toFixed(1)} dB`), d.message);
  assert.ok(d.message.includes(`rank 1 of ${report.layers.length}`), d.message);
  assert.match(d.message, /recommends keeping it at int8\/per-channel/);
  // The same layer at int8 is fine, and a mid-ranked layer at int4 is fine.
  const mid = report.layers.find((l) => l.rank === Math.ceil(report.layers.length / 2))!;
  assert.deepEqual(codes(diagnose(clsRecipe({ [worst.name]: { weights: 'int8/per-channel' }, [mid.name]: { weights: 'int4/per-channel' } }, { weights: 'int8/per-channel', activations: 'uint8' }), { report: true })).filter((c) => c === 'sensitive-layer'), []);
});

test('defaults that put highly sensitive layers at low precision get one warning listing them', () => {
  const d = one(diagnose(clsRecipe({}), { report: true }), 'sensitive-defaults');
  const listed = (d.data as { layers: string[] }).layers;
  for (const k of report.recommendation!.keep) assert.ok(listed.includes(k), k);
  const first = report.layers.find((l) => l.rank === 1)!;
  assert.ok(d.message.includes(first.name));
  // Keeping them in the recipe silences the warning.
  const kept = Object.fromEntries(listed.map((n) => [n, { weights: 'int8/per-channel' }]));
  assert.deepEqual(codes(diagnose(clsRecipe(kept), { report: true })).filter((c) => String(c).startsWith('sensitive')), []);
});

test('per-tensor weights on a layer with very uneven channel ranges get a warning with the spread and the loss', () => {
  const rec = loadFixtureModel(REC_MODEL);
  const recRel = path.relative(RECIPES_DIR, REC_MODEL);
  const wide = [...rec.inventory].filter((l) => l.weightStats).sort((a, b) => b.weightStats!.channelRangeSpread - a.weightStats!.channelRangeSpread);
  const worst = wide[0];
  const spread = worst.weightStats!.channelRangeSpread;
  assert.ok(spread >= SPREAD_WARN, 'the rec model has a 1x1 conv with one very wide channel');
  const text = JSON.stringify({ version: 1, model: recRel, defaults: {}, layers: { [worst.name]: { weights: 'int8/per-tensor' } } });
  const d = one(diagnose(text, { model: rec }), 'per-tensor-spread');
  assert.ok(d.message.includes(`spread ${spread.toFixed(1)}×`), d.message);
  assert.ok(d.message.includes(`~${(20 * Math.log10(spread)).toFixed(0)} dB`), d.message);
  assert.equal((d.data as { replacement: string }).replacement, 'int8/per-channel');
  // Per-channel is fine; a narrow layer at per-tensor is fine.
  const narrow = wide[wide.length - 1];
  const ok = JSON.stringify({ version: 1, model: recRel, defaults: {}, layers: { [worst.name]: { weights: 'int8/per-channel' }, [narrow.name]: { weights: 'int8/per-tensor' } } });
  assert.deepEqual(diagnose(ok, { model: rec }).filter((x) => x.code === 'per-tensor-spread'), []);
  // Per-tensor defaults: one warning listing every wide layer not overridden.
  const defaults = JSON.stringify({ version: 1, model: recRel, defaults: { weights: 'int8/per-tensor' }, layers: { [worst.name]: 'float' } });
  const dd = one(diagnose(defaults, { model: rec }), 'per-tensor-spread');
  const expected = rec.inventory.filter((l) => l.name !== worst.name && (l.weightStats?.channelRangeSpread ?? 0) >= SPREAD_WARN).map((l) => l.name);
  assert.deepEqual([...(dd.data as { layers: string[] }).layers].sort(), expected.sort());
});

test('no sensitivity warning for a layer at least as precise as the recommended higher format', () => {
  assert.equal(atLeastAsPrecise('int8/per-channel', 'int8/per-channel'), true);
  assert.equal(atLeastAsPrecise('int8/per-tensor', 'int8/per-channel'), false);
  assert.equal(atLeastAsPrecise('int16', 'int8/per-channel'), true);
  assert.equal(atLeastAsPrecise('int4/block:32', 'int8/per-channel'), false);
  assert.equal(atLeastAsPrecise('float', 'int8/per-channel'), true);
  // A report that also analysed int8 per-tensor (numbers copied from w4-pc): per-tensor is below int8/per-channel.
  const withPt = syntheticReport(cls);
  withPt.formats.push({ id: 'w8-pt', weights: 'int8/per-tensor', activations: 'uint8' }, { id: 'w16', weights: 'int16', activations: 'uint8' });
  for (const l of withPt.layers) l.formats['w8-pt'] = l.formats['w16'] = l.formats['w4-pc'];
  const worst = withPt.layers.find((l) => l.rank === 1)!;
  const { document, recipePath } = recipeDocument(clsRecipe({ [worst.name]: { weights: 'int8/per-tensor' } }, { weights: 'int8/per-channel', activations: 'uint8' }));
  const pt = recipeDiagnostics(document, { recipePath, model: modelIndex(cls), report: reportIndex(withPt) });
  assert.equal(pt.filter((d) => d.code === 'sensitive-layer').length, 1, 'per-tensor int8 is below the recommended int8/per-channel');
  const { document: d2 } = recipeDocument(clsRecipe({ [worst.name]: { weights: 'int16' } }, { weights: 'int8/per-channel', activations: 'uint8' }));
  assert.deepEqual(recipeDiagnostics(d2, { recipePath, model: modelIndex(cls), report: reportIndex(withPt) }).filter((d) => d.code === 'sensitive-layer'), []);
});

test('a sensitive layer the recommendation repairs at the base format is not flagged when the recipe uses that repair', () => {
  const repaired = syntheticReport(cls, 0);
  const worst = repaired.layers.find((l) => l.rank === 1)!;
  repaired.recommendation!.repaired = [worst.name];
  repaired.recommendation!.remedies = [{ layer: worst.name, remedy: 'repair', algorithm: 'gptq', extraBytes: 0 }];
  const flagged = (layer: object) => {
    const { document, recipePath } = recipeDocument(clsRecipe({ [worst.name]: layer }, { weights: 'int8/per-channel', activations: 'uint8' }));
    return recipeDiagnostics(document, { recipePath, model: modelIndex(cls), report: reportIndex(repaired) }).filter((d) => d.code === 'sensitive-layer').length;
  };
  assert.equal(flagged({ weights: 'int4/per-channel', algorithm: 'gptq' }), 0, 'the measured choice');
  assert.equal(flagged({ weights: 'int4/per-channel' }), 1, 'plain rounding is what the isolated numbers measured');
  assert.equal(flagged({ weights: 'int4/per-channel', algorithm: 'adaround' }), 1, 'another repair was not measured in the configuration');
});
