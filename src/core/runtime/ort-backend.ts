/** The one module that loads onnxruntime-node: implements InferenceBackend with it. */
import * as os from 'os';
import * as ort from 'onnxruntime-node';
import { QuantLensError } from '../errors';
import { DataType } from '../onnx/proto';
import { Tensor, TensorArray } from '../onnx/tensor-data';
import { InferenceBackend, RuntimeSession, SessionOptions } from './backend';

const TYPE_TO_ORT: Partial<Record<DataType, ort.Tensor.Type>> = {
  [DataType.FLOAT]: 'float32', [DataType.DOUBLE]: 'float64', [DataType.INT8]: 'int8', [DataType.UINT8]: 'uint8',
  [DataType.INT16]: 'int16', [DataType.UINT16]: 'uint16', [DataType.INT32]: 'int32', [DataType.UINT32]: 'uint32',
  [DataType.INT64]: 'int64', [DataType.UINT64]: 'uint64', [DataType.BOOL]: 'bool', [DataType.FLOAT16]: 'float16',
};
const ORT_TO_TYPE = new Map(Object.entries(TYPE_TO_ORT).map(([k, v]) => [v as string, Number(k) as DataType]));

/** Converts a core tensor to an ORT tensor (no copy). */
function toOrt(t: Tensor, name: string): ort.Tensor {
  const type = TYPE_TO_ORT[t.type];
  if (!type) throw new QuantLensError('runtime-type', `input '${name}' has element type ${DataType[t.type]}, which cannot be fed to ONNX Runtime from JavaScript`);
  const data = t.type === DataType.BOOL ? new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) : t.data;
  return new ort.Tensor(type, data as never, t.dims);
}

/** Converts an ORT tensor to a core tensor. */
function fromOrt(t: ort.Tensor, name: string): Tensor {
  const type = ORT_TO_TYPE.get(t.type);
  if (type === undefined) throw new QuantLensError('runtime-type', `output '${name}' has element type ${t.type}, which QuantLens cannot read`);
  let data = t.data as TensorArray;
  if (t.type === 'bool') data = Uint8Array.from(t.data as unknown as ArrayLike<number>);
  return { type, dims: t.dims.map(Number), data };
}

class OrtSession implements RuntimeSession {
  constructor(private readonly session: ort.InferenceSession) {}
  get inputNames() { return this.session.inputNames; }
  get outputNames() { return this.session.outputNames; }

  async run(feeds: Record<string, Tensor>, fetches?: readonly string[]): Promise<Record<string, Tensor>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = toOrt(v, k);
    let result: ort.InferenceSession.ReturnType;
    try {
      result = fetches ? await this.session.run(ortFeeds, fetches as string[]) : await this.session.run(ortFeeds);
    } catch (e) {
      throw new QuantLensError('runtime-failed', `ONNX Runtime failed to run the model: ${e instanceof Error ? e.message : e}`);
    }
    const out: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(result)) {
      out[k] = fromOrt(v, k);
      v.dispose?.();
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Default intra-op thread count: the cores, at most 4. */
export function defaultThreads(): number {
  return Math.max(1, Math.min(4, os.availableParallelism?.() ?? os.cpus().length));
}

/** The onnxruntime-node backend. */
export class OrtBackend implements InferenceBackend {
  readonly version = `onnxruntime-node ${ort.env.versions.node ?? '?'}`;

  async createSession(model: Uint8Array | string, options: SessionOptions = {}): Promise<RuntimeSession> {
    const opts: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: options.optimization ?? 'all',
      intraOpNumThreads: options.threads ?? defaultThreads(),
      interOpNumThreads: 1,
      executionMode: 'sequential',
      logSeverityLevel: 3,
      extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    };
    if (options.optimizedModelPath) opts.optimizedModelFilePath = options.optimizedModelPath;
    try {
      const s = typeof model === 'string' ? await ort.InferenceSession.create(model, opts) : await ort.InferenceSession.create(model, opts);
      return new OrtSession(s);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      throw new QuantLensError('runtime-load', `ONNX Runtime could not load the model: ${msg}`, typeof model === 'string' ? model : undefined);
    }
  }
}

let shared: OrtBackend | undefined;

/** The process-wide backend instance. */
export function ortBackend(): InferenceBackend {
  return (shared ??= new OrtBackend());
}
