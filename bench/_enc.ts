import { loadModelFile } from '../src/core/onnx/model-file';
import { encodeModelProto } from '../src/core/onnx/proto';
const m = loadModelFile('/tmp/ql-scale-bench/resnet50.onnx');
const t0 = m.graph!.initializer![5];
console.log(Object.prototype.toString.call(t0.raw_data), t0.raw_data!.constructor.name, t0.raw_data!.byteOffset, (t0.raw_data as any).buffer.byteLength);
for (let i = 0; i < 4; i++) { const t = performance.now(); const b = encodeModelProto(m); console.log('encode', b.byteLength, (performance.now() - t).toFixed(0), 'ms'); }
const big = new Uint8Array(100e6); const dst = Buffer.allocUnsafe(100e6 + 10);
for (let i = 0; i < 3; i++) { const t = performance.now(); dst.set(big, 3); console.log('set', (performance.now() - t).toFixed(0)); }
