/** The model of the fidelity tests: a seeded 7-layer MLP whose int8 weights saturate ONNX Runtime's u8s8 kernels without VNNI. */
import { GraphBuilder } from '../../src/core/onnx/builder';
import { DataType, ModelProto } from '../../src/core/onnx/proto';
import { randn } from '../fixtures/tiny-models';

/** A seeded MLP: x [N,64] -> 7 x (MatMul 64x64 + Add + Relu, the last without Relu) -> y [N,16]; layers fc1..fc7. */
export function mlp7(): ModelProto {
  const g = new GraphBuilder('mlp7');
  let h = g.input('x', DataType.FLOAT, ['N', 64]);
  for (let i = 1; i <= 7; i++) {
    const out = i === 7 ? 16 : 64;
    const w = g.initializer(`w${i}`, { type: DataType.FLOAT, dims: [64, out], data: randn(64 * out, 100 + i, 1.6 / Math.sqrt(64)) });
    const m = g.node('MatMul', [h, w], {}, { name: `fc${i}` });
    const a = g.node('Add', [m, g.constFloat(`b${i}`, randn(out, 200 + i, 0.1), [out])], {}, i === 7 ? { name: 'add7', output: 'y' } : { name: `add${i}` });
    h = i === 7 ? a : g.node('Relu', [a], {}, { name: `relu${i}` });
  }
  g.output('y', DataType.FLOAT, ['N', 16]);
  return g.model(13);
}
