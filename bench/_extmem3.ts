import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../src/core/onnx/builder';
import { encodeModelProto, ModelProto, TensorProto, DataType } from '../src/core/onnx/proto';
const rss = () => (process.memoryUsage().rss / 1e6).toFixed(0);
(async () => {
  // an Add with a 1M-value constant that lives at offset 400 MB of a 500 MB buffer
  const big = new Uint8Array(500e6); big.fill(0, 0, 16); // touch little
  const N = 1 << 20; const view = new Float32Array(big.buffer, 400e6, N); view.fill(2);
  const model: ModelProto = {
    ir_version: 8, opset_import: [{ domain: '', version: 13 }],
    graph: { name: 'g', node: [{ op_type: 'Add', input: ['x', 'c'], output: ['y'] }],
      input: [{ name: 'x', type: { tensor_type: { elem_type: 1, shape: { dim: [{ dim_value: N }] } } } }],
      output: [{ name: 'y', type: { tensor_type: { elem_type: 1, shape: { dim: [{ dim_value: N }] } } } }],
      initializer: [{ name: 'c', dims: [N], data_type: DataType.FLOAT, data_location: 1, external_data: [{ key: 'location', value: 'm.bin' }, { key: 'offset', value: String(400e6) }, { key: 'length', value: String(4 * N) }] }] },
  } as any;
  console.log('rss before', rss());
  const s = await ort.InferenceSession.create(encodeModelProto(model), { externalData: [{ path: 'm.bin', data: big }] } as any);
  console.log('rss after create', rss());
  const x = new ort.Tensor('float32', new Float32Array(N), [N]);
  console.log('y0', (await s.run({ x })).y.data[0]);
  view.fill(5);
  console.log('y0 after JS write', (await s.run({ x })).y.data[0]);
})();
