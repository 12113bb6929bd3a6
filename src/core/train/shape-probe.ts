/** Static shapes (and small integer values) of every tensor of a model, from one forward run at a fixed batch. */
import { createModelSession } from '../runtime/fed-weights';
import { RuntimeSession, InferenceBackend } from '../runtime/backend';
import { ModelProto } from '../onnx/proto';
import { Graph } from '../onnx/graph';
import { DataType } from '../onnx/proto';
import { Tensor, tensorFromProto } from '../onnx/tensor-data';

/** Shapes of all tensors, and the values of integer tensors (shape arithmetic) of a probed run. */
export interface ProbeResult {
  shapes: Map<string, number[]>;
  ints: Map<string, number[]>;
  types: Map<string, DataType>;
  /** The float values, when asked for. */
  values: Map<string, Tensor>;
}

/** Runs `model` on `feeds` fetching every intermediate tensor; records shapes and integer values. */
export async function probeModel(backend: InferenceBackend, model: ModelProto, feeds: Record<string, Tensor>, keepValues = false): Promise<ProbeResult> {
  const g = model.graph!;
  const seen = new Set((g.output ?? []).map((o) => o.name));
  const extra = [];
  for (const n of g.node ?? []) for (const o of n.output ?? []) if (o && !seen.has(o)) { seen.add(o); extra.push({ name: o }); }
  const probe: ModelProto = { ...model, graph: { ...g, output: [...(g.output ?? []), ...extra] } };
  const session: RuntimeSession = await createModelSession(backend, probe, { optimization: 'disabled', threads: 1 });
  try {
    const out = await session.run(feeds);
    const r: ProbeResult = { shapes: new Map(), ints: new Map(), types: new Map(), values: new Map() };
    const record = (name: string, t: Tensor) => {
      r.shapes.set(name, t.dims.slice());
      r.types.set(name, t.type);
      if ((t.type === DataType.INT64 || t.type === DataType.INT32) && t.data.length <= 64) r.ints.set(name, Array.from(t.data as ArrayLike<number | bigint>, Number));
      if (keepValues) r.values.set(name, t);
    };
    for (const [k, t] of Object.entries(feeds)) record(k, t);
    for (const init of g.initializer ?? []) {
      // shapes and types from the proto: a weight's values (maybe external data, gigabytes) are read only when kept
      const dims = (init.dims ?? []).map(Number), type = (init.data_type ?? DataType.UNDEFINED) as DataType;
      const smallInts = (type === DataType.INT64 || type === DataType.INT32) && dims.reduce((a, c) => a * c, 1) <= 64;
      if (keepValues || smallInts) record(init.name ?? '', tensorFromProto(init));
      else { r.shapes.set(init.name ?? '', dims); r.types.set(init.name ?? '', type); }
    }
    for (const [k, t] of Object.entries(out)) record(k, t);
    new Graph(model); // validates names
    return r;
  } finally {
    await session.release();
  }
}
