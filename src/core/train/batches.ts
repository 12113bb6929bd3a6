/** Batching helpers shared by training and evaluation: rows of a sample tensor, batched runs, logits, arg-max. */
import { Graph } from '../onnx/graph';
import { DataType, ModelProto } from '../onnx/proto';
import { sizeOf, Tensor, toFloat32 } from '../onnx/tensor-data';
import { RuntimeSession } from '../runtime/backend';

/** The tensor trained as logits: the input of a final Softmax, otherwise the first output. */
export function logitsTensor(graph: Graph): string {
  const out = graph.outputs[0].name;
  const p = graph.producer.get(out);
  return p && p.opType === 'Softmax' ? p.inputs[0] : out;
}

/** Rows [idx...] of a tensor with the sample axis first. */
export function gatherRows(t: Tensor, idx: ArrayLike<number>): Tensor {
  const row = sizeOf(t.dims.slice(1));
  const src = toFloat32(t);
  const data = new Float32Array(idx.length * row);
  for (let i = 0; i < idx.length; i++) data.set(src.subarray(idx[i] * row, (idx[i] + 1) * row), i * row);
  return { type: DataType.FLOAT, dims: [idx.length, ...t.dims.slice(1)], data };
}

/** Runs `model` over all samples in batches of `batch`, returning the `fetch` tensor rows (last batch padded). */
export async function runBatches(session: RuntimeSession, inputName: string, input: Tensor, fetch: string, batch: number): Promise<Float32Array> {
  const n = input.dims[0];
  let out: Float32Array | undefined;
  let width = 0;
  for (let s = 0; s < n; s += batch) {
    const idx = Array.from({ length: batch }, (_, i) => Math.min(n - 1, s + i));
    const r = (await session.run({ [inputName]: gatherRows(input, idx) }, [fetch]))[fetch];
    width = sizeOf(r.dims.slice(1));
    out ??= new Float32Array(n * width);
    const take = Math.min(batch, n - s);
    out.set((r.data as Float32Array).subarray(0, take * width), s * width);
  }
  return out!;
}

/** A copy of the model with the logits tensor also exposed as an output. */
export function withOutput(model: ModelProto, tensor: string): ModelProto {
  const g = model.graph!;
  if ((g.output ?? []).some((o) => o.name === tensor)) return model;
  return { ...model, graph: { ...g, output: [...(g.output ?? []), { name: tensor }] } };
}

/** Index of the largest value of each row. */
export function argmaxRows(data: Float32Array, width: number): Int32Array {
  const n = data.length / width;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < width; j++) if (data[i * width + j] > data[i * width + best]) best = j;
    out[i] = best;
  }
  return out;
}
