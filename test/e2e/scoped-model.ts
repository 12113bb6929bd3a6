/** A model with more than 1,000 nodes in PyTorch-style name scopes (`/blocks/blocks.3/mlp.2/Tanh`), for the graph e2e. */
import { GraphBuilder } from '../../src/core/onnx/builder';
import { saveModelFile } from '../../src/core/onnx/model-file';
import { DataType } from '../../src/core/onnx/proto';

/** Deterministic pseudo-random weights in [-a, a]. */
function weights(n: number, seed: number, a: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) { s = (s * 1664525 + 1013904223) >>> 0; out[i] = ((s / 2 ** 32) * 2 - 1) * a; }
  return out;
}

/**
 * `blocks` residual blocks, each: fc MatMul (width×width) + bias Add, then `depth` small elementwise stages
 * (Mul, Add, Tanh, Add) under `/blocks/blocks.<b>/mlp.<k>/`; then a head MatMul to 10 outputs.
 * Nodes: blocks × (2 + 4 × depth) + 1. Layer `blocks.<b>` gets a wide first output channel when b is odd (more sensitive).
 */
export function writeScopedModel(file: string, blocks = 12, depth = 21, width = 32): { nodes: number; layers: string[] } {
  const b = new GraphBuilder('scoped');
  let x = b.input('x', DataType.FLOAT, ['N', width]);
  const layers: string[] = [];
  for (let k = 0; k < blocks; k++) {
    const scope = `/blocks/blocks.${k}`;
    const wv = weights(width * width, 7 + k, 1 / Math.sqrt(width));
    if (k % 2) for (let i = 0; i < width; i++) wv[i * width] *= 25;
    const w = b.constFloat(`blocks.${k}.fc.weight`, wv, [width, width]);
    const bias = b.constFloat(`blocks.${k}.fc.bias`, weights(width, 99 + k, 0.1), [width]);
    const mm = b.node('MatMul', [x, w], {}, { name: `${scope}/fc/MatMul` });
    layers.push(`${scope}/fc/MatMul`);
    let h = b.node('Add', [mm, bias], {}, { name: `${scope}/fc/Add` });
    for (let j = 0; j < depth; j++) {
      const sc = `${scope}/mlp.${j}`;
      const m = b.node('Mul', [h, b.constFloat(`${sc}.scale`, [0.9 + 0.01 * (j % 5)], [1])], {}, { name: `${sc}/Mul` });
      const a = b.node('Add', [m, b.constFloat(`${sc}.shift`, [0.01 * ((j % 3) - 1)], [1])], {}, { name: `${sc}/Add` });
      const t = b.node('Tanh', [a], {}, { name: `${sc}/Tanh` });
      h = b.node('Add', [t, h], {}, { name: `${sc}/Add_1` });
    }
    x = h;
  }
  const wh = b.constFloat('head.weight', weights(width * 10, 3, 1 / Math.sqrt(width)), [width, 10]);
  const y = b.node('MatMul', [x, wh], {}, { name: '/head/MatMul', output: 'logits' });
  layers.push('/head/MatMul');
  b.output(y, DataType.FLOAT, ['N', 10]);
  saveModelFile(file, b.model(13));
  return { nodes: blocks * (2 + 4 * depth) + 1, layers };
}
