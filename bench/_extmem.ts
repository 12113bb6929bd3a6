import * as ort from 'onnxruntime-node';
import { loadModelFile } from '../src/core/onnx/model-file';
import { encodeModelProto, ModelProto, TensorProto } from '../src/core/onnx/proto';
const m = loadModelFile('/tmp/ql-scale-bench/resnet50.onnx');
const rss = () => (process.memoryUsage().rss / 1e6).toFixed(0);
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
  const x = new Float32Array(8 * 3 * 224 * 224).map((_, i) => Math.sin(i));
  const feeds = { [m.graph!.input![0].name!]: new ort.Tensor('float32', x, [8, 3, 224, 224]) };
  const opts: any = { intraOpNumThreads: 2, graphOptimizationLevel: 'all' };
  for (let k = 0; k < 3; k++) {
    let t = performance.now(); const full = encodeModelProto(m); const e1 = performance.now() - t;
    const s1 = await ort.InferenceSession.create(full, opts); const c1 = performance.now() - t;
    const o1 = (await s1.run(feeds))[s1.outputNames[0]].data as Float32Array;
    console.log('full: encode', e1.toFixed(0), 'encode+create', c1.toFixed(0), 'rss', rss());
    t = performance.now(); const sl = slim(m); const e2 = performance.now() - t;
    const s2 = await ort.InferenceSession.create(sl.bytes, { ...opts, externalData: sl.ext });
    const c2 = performance.now() - t;
    const o2 = (await s2.run(feeds))[s2.outputNames[0]].data as Float32Array;
    let d = 0; for (let i = 0; i < o1.length; i++) d = Math.max(d, Math.abs(o1[i] - o2[i]));
    console.log('ext: encode', e2.toFixed(0), 'bytes', sl.bytes.byteLength, 'encode+create', c2.toFixed(0), 'maxdiff', d, 'rss', rss());
    if (k === 2) { // mutate the fc weight in JS: does the session see it?
      const fc = m.graph!.initializer!.find((t) => t.name!.includes('fc') && t.dims!.length === 2)!;
      const f = new Float32Array(fc.raw_data!.buffer, fc.raw_data!.byteOffset, fc.raw_data!.byteLength / 4); f.fill(0);
      const o3 = (await s2.run(feeds))[s2.outputNames[0]].data as Float32Array;
      let d3 = 0; for (let i = 0; i < o1.length; i++) d3 = Math.max(d3, Math.abs(o1[i] - o3[i]));
      console.log('after zeroing fc in JS: diff', d3, fc.name);
    }
    await s1.release(); await s2.release();
  }
})();
