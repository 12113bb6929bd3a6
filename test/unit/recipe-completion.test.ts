import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CompletionItem, MarkupContent, TextEdit } from 'vscode-languageserver';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { parseFormat, FORMAT_EXAMPLES } from '../../src/shared/formats';
import { CALIBRATION_METHODS, parseCalibration } from '../../src/shared/recipe';
import { recipeCompletions } from '../../src/engine/recipe/completion';
import { humanCount, recipeHover } from '../../src/engine/recipe/hover';
import { modelIndex, reportIndex } from '../../src/engine/recipe/indexes';
import { CLS_MODEL, CLS_REL, loadFixtureModel, recipeDocument, syntheticReport } from '../fixtures/recipes/fixture-model';

const cls = loadFixtureModel(CLS_MODEL);
const model = modelIndex(cls);
const report = reportIndex(syntheticReport(cls));

/** Completions at the `|` marker of `text`. */
function complete(marked: string, withReport = false): { items: CompletionItem[]; document: TextDocument } {
  const offset = marked.indexOf('|');
  const text = marked.slice(0, offset) + marked.slice(offset + 1);
  const { document, recipePath } = recipeDocument(text);
  return { items: recipeCompletions(document, offset, { recipePath, model, report: withReport ? report : undefined, listDir: () => ['a.onnx', 'notes.txt', 'b.ONNX'] }), document };
}
const labels = (items: CompletionItem[]) => items.map((i) => i.label);
const head = `{ "version": 1, "model": "${CLS_REL}", `;

test('layer names complete inside layers, minus the ones already listed, with op type and shape', () => {
  const { items } = complete(`${head}"defaults": {}, "layers": { "p2o.Conv.0": "float", "|" } }`);
  assert.equal(items.length, cls.inventory.length - 1);
  assert.ok(!labels(items).includes('p2o.Conv.0'));
  const dw = cls.inventory.find((l) => l.kind === 'depthwise-conv')!;
  const it = items.find((i) => i.label === dw.name)!;
  assert.ok(it.detail!.startsWith('Conv (depthwise-conv)'));
  assert.ok(it.detail!.includes(dw.weight!.dims.join('×')));
  assert.ok((it.textEdit as TextEdit).newText.startsWith(`"${dw.name}": `));
});

test('layer completions show sensitivity rank and SQNR when a report exists', () => {
  const { items } = complete(`${head}"defaults": {}, "layers": { | } }`, true);
  const worst = report.report.layers.find((l) => l.rank === 1)!;
  const it = items.find((i) => i.label === worst.name)!;
  assert.ok(it.detail!.includes(`rank 1/${report.report.layers.length}`), it.detail);
  assert.ok(it.detail!.includes(`${worst.formats['w4-pc'].isolated!.sqnrDb.toFixed(1)} dB @ w4-pc`), it.detail);
  assert.match((it.documentation as MarkupContent).value, /recommended to keep/);
  const sorted = [...items].sort((a, b) => a.sortText!.localeCompare(b.sortText!));
  assert.equal(sorted[0].label, worst.name, 'the most sensitive layer sorts first');
});

test('a partly typed layer name is replaced as a whole string', () => {
  const { items, document } = complete(`${head}"defaults": {}, "layers": { "p2o.Co|" } }`);
  const edit = items[0].textEdit as TextEdit;
  assert.equal(document.getText(edit.range), '"p2o.Co"');
});

test('formats complete for weights and activations; every offered format parses', () => {
  const w = complete(`${head}"defaults": { "weights": "|" }, "layers": {} }`).items;
  for (const f of FORMAT_EXAMPLES) assert.ok(labels(w).includes(f), f);
  for (const it of w) assert.ok(parseFormat(String(it.label)).ok, String(it.label));
  assert.ok(labels(w).includes('int4/block:128'));
  const a = complete(`${head}"defaults": { "activations": | }, "layers": {} }`).items;
  for (const it of a) {
    const f = parseFormat(String(it.label));
    assert.ok(f.ok && (f.format.kind !== 'int' || f.format.granularity.kind === 'tensor'), String(it.label));
  }
  assert.ok(labels(a).includes('uint8'));
});

test('format completion inside a layer shows the analysed numbers', () => {
  const worst = report.report.layers.find((l) => l.rank === 1)!;
  const { items } = complete(`${head}"defaults": {}, "layers": { "${worst.name}": { "weights": "|" } } }`, true);
  const it = items.find((i) => i.label === 'int4/per-channel')!;
  assert.ok(it.detail!.includes(`this layer: ${worst.formats['w4-pc'].isolated!.sqnrDb.toFixed(1)} dB`), it.detail);
});

test('calibration methods, field names, layer values, version and model files complete', () => {
  const cal = labels(complete(`${head}"defaults": { "calibration": "|" }, "layers": {} }`).items);
  for (const m of CALIBRATION_METHODS) assert.ok(cal.some((c) => String(c).startsWith(m)), m);
  for (const c of cal) assert.ok(parseCalibration(String(c)).ok, String(c));
  assert.deepEqual(labels(complete(`${head}"defaults": { "weights": "int8", | }, "layers": {} }`).items), ['activations', 'calibration', 'algorithm', 'scales']);
  assert.deepEqual(labels(complete(`{ "version": 1, | }`).items), ['model', 'data', 'samples', 'defaults', 'layers', 'notes', '$schema']);
  assert.deepEqual(labels(complete(`${head}"defaults": {}, "layers": { "p2o.Conv.0": { "weights": "int8", "| } } }`).items), ['activations', 'calibration', 'algorithm', 'scales']);
  assert.ok(labels(complete(`${head}"defaults": {}, "layers": { "p2o.Conv.0": | } }`).items).includes('float'));
  assert.deepEqual(labels(complete(`{ "version": | }`).items), ['1']);
  assert.deepEqual(labels(complete(`{ "version": 1, "model": "|" }`).items), ['a.onnx', 'b.ONNX']);
  const fresh = complete('|').items;
  assert.deepEqual(labels(fresh), ['QuantLens recipe']);
  assert.match((fresh[0].textEdit as TextEdit).newText, /"model": "\$\{1\|a\.onnx,b\.ONNX\|\}"/);
});

/** The hover markdown at the first occurrence of `needle` in `text` (plus `delta` characters). */
function hover(text: string, needle: string, withReport: boolean, delta = 2): string | undefined {
  const { document, recipePath } = recipeDocument(text);
  const h = recipeHover(document, text.indexOf(needle) + delta, { recipePath, model, report: withReport ? report : undefined });
  return h ? (h.contents as MarkupContent).value : undefined;
}

test('hover on a layer name shows op type, weight shape, parameters and the analysis numbers', () => {
  const worst = report.report.layers.find((l) => l.rank === 1)!;
  const layer = cls.inventory.find((l) => l.name === worst.name)!;
  const text = `${head}"defaults": { "weights": "int4/per-channel" }, "layers": { "${worst.name}": { "weights": "int4/per-channel" } } }`;
  const md = hover(text, `"${worst.name}"`, true)!;
  assert.ok(md.includes(`\`${layer.opType}\``));
  assert.ok(md.includes(layer.weight!.dims.join(' × ')));
  assert.ok(md.includes(`${humanCount(layer.params)} parameters`));
  assert.ok(md.includes(`rank 1 of ${report.report.layers.length}`));
  assert.ok(md.includes(`| w4-pc | ${worst.formats['w4-pc'].weightSqnrDb!.toFixed(1)} dB`), md);
  for (const d of worst.diagnoses) assert.ok(md.includes(d.message));
  assert.match(md, /Recommended: keep at `int8\/per-channel`/);
  const noReport = hover(text, `"${worst.name}"`, false)!;
  assert.match(noReport, /No analysis yet/);
});

test('hover on formats, fields, unknown layers and the model path', () => {
  const text = `${head}"defaults": { "weights": "int4/block:32" }, "layers": { "nope": "float" } }`;
  assert.match(hover(text, '"int4/block:32"', false)!, /4-bit signed integer, blocks of 32/);
  assert.match(hover(text, '"defaults"', false)!, /without an override/);
  assert.match(hover(text, '"nope"', false)!, /not a node of the model/);
  assert.match(hover(text, CLS_REL, false, 3)!, new RegExp(`${cls.inventory.length} quantizable layers`));
});
