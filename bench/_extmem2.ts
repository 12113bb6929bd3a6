import * as ort from 'onnxruntime-node';
import { loadModelFile } from '../src/core/onnx/model-file';
import { encodeModelProto, ModelProto, TensorProto } from '../src/core/onnx/proto';
const m = loadModelFile(process.argv[2]);
function slim(model: ModelProto): { bytes: Uint8Array; ext: { path: string; data: Uint8Array }[] } {
  const bufs = new Map<ArrayBufferLike, string>();
  const init = model.graph!.initializer!.map((t): TensorProto => {
    const r = t.raw_data; if (!r || r.byteLength < 65536) return t;
    let p = bufs.get(r.buffer); if (!p) { p = `ql-mem-${bufs.size}.bin`; bufs.set(r.buffer, p); }
    return { ...t, raw_data: undefined, data_location: 1, external_data: [{ key: 'location', value: p }, { key: 'offset', value: String(r.byteOffset) }, { key: 'length', value: String(r.byteLength) }] };
  });
  const bytes = encodeModelProto({ ...model, graph: { ...model.graph, initializer: init } });
  return { bytes, ext: [...bufs].map(([b, p]) => ({ path: p, data: new Uint8Array(b) })) };
}
(async () => {
  const opts: any = { intraOpNumThreads: 2, graphOptimizationLevel: process.argv[3] ?? 'all' };
  const A: number[] = [], B: number[] = [];
  for (let k = 0; k < 5; k++) {
    let t = performance.now(); const s1 = await ort.InferenceSession.create(encodeModelProto(m), opts); A.push(performance.now() - t); await s1.release();
    t = performance.now(); const sl = slim(m); const s2 = await ort.InferenceSession.create(sl.bytes, { ...opts, externalData: sl.ext }); B.push(performance.now() - t); await s2.release();
  }
  console.log('full', A.map((x) => x.toFixed(0)).join(' '), '| ext', B.map((x) => x.toFixed(0)).join(' '));
})();
