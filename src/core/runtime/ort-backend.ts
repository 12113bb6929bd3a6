/** The one module that loads onnxruntime-node: implements InferenceBackend with it. */
import * as os from 'os';
import * as ort from 'onnxruntime-node';
import { QuantLensError } from '../errors';
import * as fs from 'fs';
import { modelDataBytes } from '../onnx/model-file';
import { DataType, encodedModelOf, externalDataFolderOf } from '../onnx/proto';
import { Tensor, TensorArray } from '../onnx/tensor-data';
import { InferenceBackend, ModelLoadEvent, RuntimeSession, SessionOptions } from './backend';

/** Models at least this large (with external data) are announced to onBigModelLoad. */
export const BIG_MODEL_BYTES = 256 << 20;
/** Models at least this large load without weight prepacking unless asked (see SessionOptions.prepack). */
export const NO_PREPACK_BYTES = 1 << 30;

/** The size of a model given as bytes (plus the external data they refer to, on disk or in memory) or as a file path. */
function modelSize(model: Uint8Array | string, options: SessionOptions): number {
  if (typeof model === 'string') { try { return fs.statSync(model).size; } catch { return 0; } }
  const source = encodedModelOf(model);
  return model.byteLength + (source ? modelDataBytes(source).external : 0) + (options.externalData ?? []).reduce((s, f) => s + f.used, 0);
}

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

// ORT's own logger writes coloured lines straight to stderr; its errors reach us as exceptions, so keep it quiet.
ort.env.logLevel = 'fatal';

const RUN_OPTIONS: ort.InferenceSession.RunOptions = { logSeverityLevel: 4 };

class OrtSession implements RuntimeSession {
  constructor(private readonly session: ort.InferenceSession) {}
  get inputNames() { return this.session.inputNames; }
  get outputNames() { return this.session.outputNames; }

  async run(feeds: Record<string, Tensor>, fetches?: readonly string[], into?: Readonly<Record<string, Tensor>>): Promise<Record<string, Tensor>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = toOrt(v, k);
    let result: ort.InferenceSession.ReturnType;
    try {
      if (into) {
        // pre-allocated outputs: ONNX Runtime writes into the given buffers (null: it allocates, as usual); the binding
        // still returns a copy of each, which is dropped for the given tensor
        const wanted: Record<string, ort.Tensor | null> = {};
        for (const name of fetches ?? this.session.outputNames) wanted[name] = into[name] ? toOrt(into[name], name) : null;
        result = await this.session.run(ortFeeds, wanted, RUN_OPTIONS);
      } else result = fetches ? await this.session.run(ortFeeds, fetches as string[], RUN_OPTIONS) : await this.session.run(ortFeeds, RUN_OPTIONS);
    } catch (e) {
      throw new QuantLensError('runtime-failed', `ONNX Runtime failed to run the model: ${e instanceof Error ? e.message : e}`);
    }
    const out: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(result)) {
      out[k] = into?.[k] ?? fromOrt(v, k);
      v.dispose?.();
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Default intra-op thread count: the machine's cores (os.availableParallelism()). */
export function defaultThreads(): number {
  return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
}

/** The onnxruntime-node backend. */
export class OrtBackend implements InferenceBackend {
  readonly version = `onnxruntime-node ${ort.env.versions.node ?? '?'}`;
  onBigModelLoad?: (event: ModelLoadEvent) => void;

  async createSession(model: Uint8Array | string, options: SessionOptions = {}): Promise<RuntimeSession> {
    const opts: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: options.optimization ?? 'all',
      intraOpNumThreads: options.threads ?? defaultThreads(),
      interOpNumThreads: 1,
      executionMode: 'sequential',
      logSeverityLevel: 4, // fatal only: ORT's errors come back as exceptions, worded by QuantLens (no raw coloured log lines)
      extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    };
    if (options.optimizedModelPath) opts.optimizedModelFilePath = options.optimizedModelPath;
    if (options.memoryPattern === false) opts.enableMemPattern = false;
    if (options.profilePrefix) { opts.enableProfiling = true; opts.profileFilePrefix = options.profilePrefix; }
    for (const [k, v] of Object.entries(options.config ?? {})) setConfigEntry(opts, k, v);
    if (options.arena === false) { opts.enableCpuMemArena = false; opts.enableMemPattern = false; }
    // Model bytes referring to external data: ONNX Runtime reads it from the source model's folder (a model loaded
    // from bytes has no folder of its own; it refuses locations outside this one, as loadModelFile does).
    const folder = typeof model === 'string' ? undefined : options.externalDataFolder ?? externalDataFolderOf(model);
    if (folder) (opts.extra as { session: Record<string, unknown> }).session.model_external_initializers_file_folder_path = folder;
    const eps = options.executionProviders?.filter((e) => e !== 'cpu') ?? [];
    if (eps.length) {
      checkExecutionProviders(eps, this.executionProviders());
      opts.executionProviders = [...eps, 'cpu'] as ort.InferenceSession.ExecutionProviderConfig[];
    }
    if (options.externalData?.length) opts.externalData = options.externalData.map((f) => ({ path: f.path, data: f.data }));
    const bytes = modelSize(model, options);
    const big = bytes >= BIG_MODEL_BYTES;
    if (!(options.prepack ?? bytes < NO_PREPACK_BYTES)) (opts.extra as { session: Record<string, unknown> }).session.disable_prepacking = '1';
    const t0 = Date.now();
    if (big) this.onBigModelLoad?.({ phase: 'start', bytes });
    try {
      const s = typeof model === 'string' ? await ort.InferenceSession.create(model, opts) : await ort.InferenceSession.create(model, opts);
      if (big) this.onBigModelLoad?.({ phase: 'done', bytes, seconds: (Date.now() - t0) / 1000 });
      return new OrtSession(s);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      if (eps.length && /provider|cuda|tensorrt|\.so|library/i.test(msg)) {
        throw new QuantLensError('execution-provider', `ONNX Runtime could not start execution provider ${eps.join(', ')}: ${msg}. Available in this onnxruntime-node: ${describeProviders(this.executionProviders())}`);
      }
      throw new QuantLensError('runtime-load', `ONNX Runtime could not load the model: ${msg}`, typeof model === 'string' ? model : undefined);
    }
  }

  /** The execution providers of the installed onnxruntime-node ('bundled' ones ship with it; the others need their libraries). */
  executionProviders(): { name: string; bundled: boolean }[] {
    return ort.listSupportedBackends().map((b) => ({ name: b.name, bundled: b.bundled }));
  }
}

/** Sets a dotted session configuration key ('session.x.y') in the nested `extra` object onnxruntime-node flattens. */
function setConfigEntry(opts: ort.InferenceSession.SessionOptions, key: string, value: string): void {
  const parts = key.split('.');
  let o = (opts.extra ??= {}) as Record<string, unknown>;
  for (const p of parts.slice(0, -1)) o = (o[p] ??= {}) as Record<string, unknown>;
  o[parts[parts.length - 1]] = value;
}

/** Throws a clear error when a requested execution provider is not one the installed onnxruntime-node offers. */
export function checkExecutionProviders(requested: readonly string[], available: { name: string; bundled: boolean }[]): void {
  for (const ep of requested) {
    if (!available.some((a) => a.name === ep)) {
      throw new QuantLensError('execution-provider', `execution provider '${ep}' is not available in the installed onnxruntime-node; available: ${describeProviders(available)}`);
    }
  }
}

function describeProviders(available: { name: string; bundled: boolean }[]): string {
  return available.map((a) => (a.bundled ? a.name : `${a.name} (needs its libraries installed)`)).join(', ');
}

let shared: OrtBackend | undefined;

/** The process-wide backend instance. */
export function ortBackend(): InferenceBackend {
  return (shared ??= new OrtBackend());
}
