// Small models and correlated data for the repair tests (built with the project's builder).
import { GraphBuilder } from '../../src/core/onnx/builder';
import { DataType, encodeModelProto, ModelProto } from '../../src/core/onnx/proto';
import { toFloat32 } from '../../src/core/onnx/tensor-data';
import { InferenceBackend } from '../../src/core/runtime/backend';
import { ChunkedDataSource } from '../../src/core/data/source';
import { mulberry32 } from '../../src/core/data/synthetic';

export function randn(r: () => number, n: number, std: number, mean = 0): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = mean + Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()) * std;
  return out;
}

/** Conv 3→8 (3x3) Relu Conv 8→16 (3x3) Relu GlobalAveragePool Flatten Gemm 16→10; conv1's channel 0 is `wide` times wider. */
export function cnn(wide = 1, seed = 3): ModelProto {
  const r = mulberry32(seed);
  const g = new GraphBuilder('cnn');
  g.input('x', DataType.FLOAT, ['N', 3, 12, 12]);
  const w1 = randn(r, 8 * 27, 0.3);
  for (let i = 0; i < 27; i++) w1[i] *= wide;
  const i1 = g.initializer('w1', { type: DataType.FLOAT, dims: [8, 3, 3, 3], data: w1 });
  const b1 = g.initializer('b1', { type: DataType.FLOAT, dims: [8], data: randn(r, 8, 0.1) });
  g.node('Conv', ['x', i1, b1], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, { name: 'conv1', output: 'c1' });
  g.node('Relu', ['c1'], {}, { name: 'relu1', output: 'r1' });
  const i2 = g.initializer('w2', { type: DataType.FLOAT, dims: [16, 8, 3, 3], data: randn(r, 16 * 72, 0.15) });
  const b2 = g.initializer('b2', { type: DataType.FLOAT, dims: [16], data: randn(r, 16, 0.1) });
  g.node('Conv', ['r1', i2, b2], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, { name: 'conv2', output: 'c2' });
  g.node('Relu', ['c2'], {}, { name: 'relu2', output: 'r2' });
  g.node('GlobalAveragePool', ['r2'], {}, { name: 'gap', output: 'p' });
  g.node('Flatten', ['p'], { axis: 1 }, { name: 'flatten', output: 'f' });
  const i3 = g.initializer('w3', { type: DataType.FLOAT, dims: [10, 16], data: randn(r, 160, 0.3) });
  const b3 = g.initializer('b3', { type: DataType.FLOAT, dims: [10], data: randn(r, 10, 0.1) });
  g.node('Gemm', ['f', i3, b3], { transB: 1 }, { name: 'fc', output: 'y' });
  g.output('y', DataType.FLOAT, ['N', 10]);
  return g.model(17);
}

/** Smooth random fields (a per-channel offset plus a plane wave and a little noise): correlated like image inputs. */
export function smoothData(n: number, seed: number): ChunkedDataSource {
  const r = mulberry32(seed);
  const xs = new Float32Array(n * 3 * 144);
  for (let s = 0; s < n; s++) for (let c = 0; c < 3; c++) {
    const a = randn(r, 1, 1)[0], fx = r() * 0.5, fy = r() * 0.5, ph = r() * 6;
    for (let y = 0; y < 12; y++) for (let x = 0; x < 12; x++) xs[((s * 3 + c) * 12 + y) * 12 + x] = a + Math.sin(fx * x + fy * y + ph) + 0.1 * randn(r, 1, 1)[0];
  }
  return new ChunkedDataSource({ about: { kind: 'npy', synthetic: true, source: 'smooth fields' }, chunks: new Map([['x', [{ file: 'x', count: n, sampleDims: [3, 12, 12], load: () => ({ type: DataType.FLOAT, dims: [n, 3, 12, 12], data: xs }) }]]]) }, [{ name: 'x', elemType: DataType.FLOAT, shape: ['N', 3, 12, 12] }]);
}


/** A plain CNN deeper than the remedy search's exhaustive limit: Conv 3→8, `depth` - 1 Conv 8→8 (3x3, Relu), GlobalAveragePool, Gemm 8→10. */
export function deepCnn(depth = 20, seed = 5): ModelProto {
  const r = mulberry32(seed);
  const g = new GraphBuilder('deep-cnn');
  g.input('x', DataType.FLOAT, ['N', 3, 12, 12]);
  let x = 'x';
  for (let i = 0; i < depth; i++) {
    const cin = i ? 8 : 3;
    const w = g.initializer(`w${i}`, { type: DataType.FLOAT, dims: [8, cin, 3, 3], data: randn(r, 8 * cin * 9, Math.sqrt(2 / (cin * 9))) });
    const b = g.initializer(`b${i}`, { type: DataType.FLOAT, dims: [8], data: randn(r, 8, 0.05) });
    g.node('Conv', [x, w, b], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, { name: `conv${i}`, output: `c${i}` });
    g.node('Relu', [`c${i}`], {}, { name: `relu${i}`, output: `r${i}` });
    x = `r${i}`;
  }
  g.node('GlobalAveragePool', [x], {}, { name: 'gap', output: 'p' });
  g.node('Flatten', ['p'], { axis: 1 }, { name: 'flatten', output: 'f' });
  const wf = g.initializer('wf', { type: DataType.FLOAT, dims: [10, 8], data: randn(r, 80, 0.3) });
  const bf = g.initializer('bf', { type: DataType.FLOAT, dims: [10], data: randn(r, 10, 0.1) });
  g.node('Gemm', ['f', wf, bf], { transB: 1 }, { name: 'fc', output: 'y' });
  g.output('y', DataType.FLOAT, ['N', 10]);
  return g.model(17);
}

/** The model's output `y` in ONNX Runtime (no graph optimization) for n samples x [3, 12, 12]. */
export async function cnnOutputs(backend: InferenceBackend, model: ModelProto, x: Float32Array, n: number): Promise<Float32Array> {
  const s = await backend.createSession(encodeModelProto(model), { optimization: 'disabled' });
  try { return toFloat32((await s.run({ x: { type: DataType.FLOAT, dims: [n, 3, 12, 12], data: x } })).y); } finally { await s.release(); }
}
