// ONNX Runtime fidelity warnings where users act: `quantlens quantize` (stderr and --json) predicts and measures
// the u8s8 saturation of int8 weights with 8-bit activations on x86 CPUs without VNNI; int7 weights do not warn.
import { test } from 'node:test';
import { tempDir } from '../fixtures/temp-dir';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { runCli } from '../../src/cli/main';
import { saveModelFile } from '../../src/core/onnx/model-file';
import { cpuHasVnni } from '../../src/core/quant/ort-fidelity';
import { captureIO } from '../fixtures/tiny-models';
import { mlp7 } from './fidelity-models';

const vnni = cpuHasVnni();

async function quantizeJson(model: string, extra: string[]): Promise<{ r: Record<string, any>; stderr: string }> {
  const out = path.join(path.dirname(model), `q${Math.random().toString(36).slice(2)}.onnx`);
  const io = captureIO();
  const code = await runCli(['quantize', model, '--synthetic', '--samples', '16', '--check-samples', '8', '--json', '-o', out, ...extra], io);
  assert.equal(code, 0, io.stderr());
  return { r: JSON.parse(io.stdout()), stderr: io.stderr() };
}

test('quantize int8/uint8 (the default) warns about u8s8 saturation on CPUs without VNNI, names the layers, and measures it', async () => {
  const dir = tempDir('ql-fid-');
  const model = path.join(dir, 'mlp7.onnx');
  saveModelFile(model, mlp7());
  const { r, stderr } = await quantizeJson(model, []);
  console.log(`int8/uint8: fused ${r.outputSqnrDb.y} dB, exact ${r.exactSqnrDb.y} dB (vnni ${vnni}); warnings: ${JSON.stringify(r.warnings)}`);
  assert.ok(Array.isArray(r.warnings));
  assert.equal(typeof r.exactSqnrDb.y, 'number');
  const u8s8 = r.warnings.filter((w: string) => /u8s8/.test(w));
  if (vnni === false) {
    assert.equal(u8s8.length, 1, stderr);
    assert.match(u8s8[0], /no VNNI/);
    assert.match(u8s8[0], /int7\/per-channel/);
    assert.match(u8s8[0], /'fc1', 'fc2', 'fc3' and 3 more \(6 layers\)/);
    assert.match(stderr, /Warning: ONNX Runtime on this CPU \(no VNNI\)/);
    // the prediction holds: the fused run is measured worse than the exact Q/DQ arithmetic, and said so with both numbers
    assert.ok(r.exactSqnrDb.y - r.outputSqnrDb.y >= 3, `fused ${r.outputSqnrDb.y} vs exact ${r.exactSqnrDb.y}`);
    const measured = r.warnings.find((w: string) => /output 'y'.*fused integer kernels/.test(w));
    assert.ok(measured, JSON.stringify(r.warnings));
    assert.ok(measured.includes(r.outputSqnrDb.y.toFixed(2)) && measured.includes(r.exactSqnrDb.y.toFixed(2)), measured);
  } else if (vnni === true) {
    assert.deepEqual(u8s8, []);
    assert.ok(Math.abs(r.exactSqnrDb.y - r.outputSqnrDb.y) < 1, `fused ${r.outputSqnrDb.y} vs exact ${r.exactSqnrDb.y}`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('quantize with int7/per-channel weights: no u8s8 warning, and ONNX Runtime runs it as simulated', async () => {
  const dir = tempDir('ql-fid-');
  const model = path.join(dir, 'mlp7.onnx');
  saveModelFile(model, mlp7());
  const recipe = path.join(dir, 'w7.qrecipe.json');
  fs.writeFileSync(recipe, JSON.stringify({ version: 1, model: 'mlp7.onnx', defaults: { weights: 'int7/per-channel', activations: 'uint8' }, layers: {} }));
  const { r, stderr } = await quantizeJson(model, ['--recipe', recipe]);
  console.log(`int7/uint8: fused ${r.outputSqnrDb.y} dB, exact ${r.exactSqnrDb.y} dB; warnings: ${JSON.stringify(r.warnings)}`);
  assert.deepEqual(r.warnings, []);
  assert.doesNotMatch(stderr, /Warning:/);
  assert.ok(Math.abs(r.exactSqnrDb.y - r.outputSqnrDb.y) < 0.5, `fused ${r.outputSqnrDb.y} vs exact ${r.exactSqnrDb.y}`);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('quantize text output: both SQNRs on the output line, the warnings on stderr after the result', { skip: vnni !== false }, async () => {
  const dir = tempDir('ql-fid-');
  try {
    const model = path.join(dir, 'mlp7.onnx');
    saveModelFile(model, mlp7());
    const io = captureIO();
    assert.equal(await runCli(['quantize', model, '--synthetic', '--samples', '16', '-o', path.join(dir, 'q.onnx')], io), 0, io.stderr());
    assert.match(io.stdout(), /Output SQNR y: [\d.]+ dB, top-1 agreement [\d.]+% \(quantized vs float, 4 samples\); [\d.]+ dB with the exact Q\/DQ arithmetic \(ONNX Runtime optimizations off\)/);
    assert.match(io.stderr(), /Warning: ONNX Runtime on this CPU \(no VNNI\) runs int8 weights with 8-bit activations through u8s8 kernels that saturate; .*Affected: 'fc1'/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
