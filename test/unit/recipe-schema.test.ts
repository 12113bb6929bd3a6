import { test } from 'node:test';
import assert from 'node:assert/strict';
import schema from '../../src/shared/recipe-schema.json';
import { FORMAT_EXAMPLES, formatToString, INT_BITS, parseFormat } from '../../src/shared/formats';
import { parseCalibration } from '../../src/shared/recipe';
import { ACTIVATION_FORMATS, CALIBRATION_EXAMPLES, WEIGHT_FORMATS } from '../../src/engine/recipe/fields';
import { checkRecipe } from '../../src/engine/recipe/validate';
import { parseRecipeText } from '../../src/engine/recipe/parse';

const formatPattern = new RegExp(schema.definitions.format.pattern);
const calibrationPattern = new RegExp(schema.definitions.calibration.pattern);

/** Strings around the grammar's edges: every bit width, options, aliases and typos. */
function formatProbes(): string[] {
  const out = [...FORMAT_EXAMPLES, ...WEIGHT_FORMATS, ...ACTIVATION_FORMATS, 'float3', 'float32', 'fp16', 'bf16', 'fp8e5m2', 'int0', 'int1', 'int17', 'uint32', 'int', 'int8/', 'int8/block:1', 'int8/block:0', 'int8/block:10', 'int8/per-channel:1', 'float16/per-channel', 'int4/blocks:32', 'INT8/Per-Channel', ' int8 '];
  for (const b of [...INT_BITS, 1, 17, 20]) for (const opt of ['', '/per-tensor', '/pc', '/block:2', '/block:128', '/sym', '/asym', '/per-channel/asym', '/nope']) out.push(`int${b}${opt}`, `uint${b}${opt}`);
  return out;
}

test('the JSON Schema format pattern accepts exactly what parseFormat accepts (lower case)', () => {
  for (const s of formatProbes()) {
    if (s !== s.toLowerCase()) continue; // the schema is case-sensitive; the parser is lenient
    assert.equal(formatPattern.test(s), parseFormat(s).ok, s);
  }
});

test('the JSON Schema calibration pattern accepts exactly what parseCalibration accepts', () => {
  for (const s of [...CALIBRATION_EXAMPLES, 'minmax', 'min-max', 'max', 'mse', 'entropy', 'kl', 'percentile', 'percentile:99', 'percentile:99.999', 'percentile:', 'median', 'mse2']) {
    if (/percentile:(\d+)/.test(s) && !parseCalibration(s).ok) continue; // range checks are beyond a pattern
    assert.equal(calibrationPattern.test(s), parseCalibration(s).ok, s);
  }
});

test('completion offers only canonical, parseable formats', () => {
  for (const f of [...WEIGHT_FORMATS, ...ACTIVATION_FORMATS]) {
    const p = parseFormat(f);
    assert.ok(p.ok, f);
    if (p.ok) assert.deepEqual(parseFormat(formatToString(p.format)), p);
  }
});

test('every field the schema names is accepted by the checker, and nothing else', () => {
  const spec = Object.fromEntries(Object.keys(schema.definitions.layerSpec.properties).map((k) => [k, k === 'scales' ? {} : k === 'calibration' ? 'minmax' : k === 'algorithm' ? 'adaround' : 'int8']));
  const full = { version: 1, model: 'm.onnx', data: 'd', samples: 4, defaults: spec, layers: { a: spec, b: 'float' }, notes: '', $schema: schema.$id };
  assert.deepEqual(Object.keys(full).sort(), Object.keys(schema.properties).sort());
  assert.deepEqual(checkRecipe({ doc: parseRecipeText(JSON.stringify(full)) }), []);
  const extra = checkRecipe({ doc: parseRecipeText(JSON.stringify({ ...full, extra: 1, defaults: { ...spec, bits: 4 } })) });
  assert.deepEqual(extra.map((i) => i.code), ['unknown-field', 'unknown-field']);
});
