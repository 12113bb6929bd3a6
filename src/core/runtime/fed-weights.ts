/**
 * Sessions of a model whose big MatMul, Gemm and Gather weights are fed at each run from the model's own buffers
 * instead of being encoded into it. Encoding copies every weight into the protobuf bytes and ONNX Runtime copies them
 * again into the session; fed, ONNX Runtime reads the buffers in place. On a BERT-base encoder (440 MB of weights) each
 * session of the float model cost about 0.6 s of encoding plus a second in ONNX Runtime, and held its own copy of the
 * weights. Conv weights stay initializers: ONNX Runtime's NCHWc kernels need them constant.
 */
import { DataType, ModelProto, TensorProto } from '../onnx/proto';
import { hasExternalData } from '../onnx/external-data';
import { Tensor, tensorFromProto } from '../onnx/tensor-data';
import { InferenceBackend, RuntimeSession, SessionOptions } from './backend';
import { createProtoSession } from './proto-session';

/** Float weights at least this large are fed (smaller ones cost more as feeds than they save). */
export const FED_WEIGHT_MIN_BYTES = 64 * 1024;

/** A model with its big weights turned into graph inputs, and the feeds that give them their values. */
export interface FedWeights {
  model: ModelProto;
  feeds: Record<string, Tensor>;
}

/** Turns the in-memory float initializers read only as a MatMul/Gemm right operand or a Gather table into inputs. */
export function feedWeights(model: ModelProto, minBytes = FED_WEIGHT_MIN_BYTES): FedWeights {
  const g = model.graph ?? {};
  const feedable = new Map<string, boolean>();
  for (const n of g.node ?? []) {
    (n.input ?? []).forEach((t, i) => {
      if (!t) return;
      const op = (n.domain ?? '') === '' ? n.op_type : undefined;
      const weightSlot = ((op === 'MatMul' || op === 'Gemm') && i === 1) || (op === 'Gather' && i === 0);
      feedable.set(t, (feedable.get(t) ?? true) && weightSlot);
    });
  }
  const fed = (t: TensorProto) => feedable.get(t.name ?? '') === true && t.data_type === DataType.FLOAT && !hasExternalData(t) && (t.raw_data?.byteLength ?? 4 * (t.float_data?.length ?? 0)) >= minBytes;
  const moved = (g.initializer ?? []).filter(fed);
  if (!moved.length) return { model, feeds: {} };
  const names = new Set(moved.map((t) => t.name!));
  const declared = new Set((g.input ?? []).map((i) => i.name));
  const inputs = moved.filter((t) => !declared.has(t.name)).map((t) => ({ name: t.name, type: { tensor_type: { elem_type: DataType.FLOAT, shape: { dim: (t.dims ?? []).map((d) => ({ dim_value: Number(d) })) } } } }));
  const feeds: Record<string, Tensor> = {};
  for (const t of moved) feeds[t.name!] = tensorFromProto(t);
  return { model: { ...model, graph: { ...g, input: [...(g.input ?? []), ...inputs], initializer: (g.initializer ?? []).filter((t) => !names.has(t.name ?? '')) } }, feeds };
}

/** A session of `model` with its big weights fed (feedWeights); callers see the model's own inputs and run it as usual. */
export async function createModelSession(backend: InferenceBackend, model: ModelProto, options: SessionOptions = {}): Promise<RuntimeSession> {
  const { model: slim, feeds } = feedWeights(model);
  const session = await createProtoSession(backend, slim, options);
  const weights = new Set(Object.keys(feeds));
  if (!weights.size) return session;
  return {
    inputNames: session.inputNames.filter((n) => !weights.has(n)),
    outputNames: session.outputNames,
    run: (f, fetches, into) => session.run({ ...f, ...feeds }, fetches, into),
    release: () => session.release(),
  };
}
