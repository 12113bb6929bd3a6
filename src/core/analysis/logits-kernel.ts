/** Per-row KL(softmax(ref) || softmax(test)) and both argmaxes of many-class logits, computed in float64 by ONNX Runtime. */
import { GraphBuilder } from '../onnx/builder';
import { DataType, encodeModelProto } from '../onnx/proto';
import { InferenceBackend, RuntimeSession } from '../runtime/backend';

/** log(1e-12): test probabilities are floored at 1e-12, as in logitsKl and the probability form. */
const LOG_FLOOR = Math.log(1e-12);

/**
 * The KL graph: both sides cast to float64, log-softmaxed; KL = Σ exp(lr)·(lr − max(lt, log 1e-12)) per row;
 * argmaxes on the float32 values (first index of the maximum, as the JS scan). Rows × classes, symbolic rows.
 */
export function logitsKernelModel(variant: 'logsoftmax' | 'exp-sum' = 'logsoftmax') {
  const b = new GraphBuilder('logits_kl');
  const ref = b.input('ref', DataType.FLOAT, ['N', 'C']);
  const test = b.input('test', DataType.FLOAT, ['N', 'C']);
  const r = b.node('Cast', [ref], { to: DataType.DOUBLE });
  const t = b.node('Cast', [test], { to: DataType.DOUBLE });
  const floor = b.initializer('log_floor', { type: DataType.DOUBLE, dims: [], data: Float64Array.of(LOG_FLOOR) });
  const axes = b.constInt64('axes', [-1]);
  const lt = b.node('Max', [b.node('LogSoftmax', [t], { axis: -1 }), floor]);
  let kl: string;
  if (variant === 'logsoftmax') {
    const lr = b.node('LogSoftmax', [r], { axis: -1 });
    kl = b.node('ReduceSum', [b.node('Mul', [b.node('Exp', [lr]), b.node('Sub', [lr, lt])]), axes], { keepdims: 0 });
  } else {
    const mr = b.node('ReduceMax', [r, axes], { keepdims: 1 });
    const e = b.node('Exp', [b.node('Sub', [r, mr])]);
    const sr = b.node('ReduceSum', [e, axes], { keepdims: 1 });
    const lse = b.node('Add', [mr, b.node('Log', [sr])]);
    const d = b.node('Sub', [b.node('Sub', [r, lse]), lt]);
    kl = b.node('Div', [b.node('ReduceSum', [b.node('Mul', [e, d]), axes], { keepdims: 1 }), sr]);
    kl = b.node('Squeeze', [kl, axes]);
  }
  b.output(b.node('Identity', [kl], {}, { output: 'kl' }), DataType.DOUBLE, ['N']);
  b.output(b.node('ArgMax', [ref], { axis: -1, keepdims: 0, select_last_index: 0 }, { output: 'ref_top' }), DataType.INT64, ['N']);
  b.output(b.node('ArgMax', [test], { axis: -1, keepdims: 0, select_last_index: 0 }, { output: 'test_top' }), DataType.INT64, ['N']);
  return b.model(18);
}

/** Per-row results of a block of rows. */
export interface RowMetrics {
  kl: Float64Array;
  refTop: BigInt64Array;
  testTop: BigInt64Array;
}

/** Values per run of the session: bounds its float64 temporaries (8 MB each) while keeping runs long next to their overhead. */
const CHUNK_VALUES = 1 << 20;

/** One session of the KL graph, opened on first use and freed by release() (a later use opens it again). */
export class LogitsKernel {
  private session?: Promise<RuntimeSession>;

  constructor(private readonly backend: InferenceBackend, private readonly threads?: number) {}

  /** KL and argmaxes of each row of `ref`/`test` (rows of `classes` values), in chunks of rows. */
  async rows(ref: Float32Array, test: Float32Array, classes: number): Promise<RowMetrics> {
    const n = ref.length / classes;
    const out: RowMetrics = { kl: new Float64Array(n), refTop: new BigInt64Array(n), testTop: new BigInt64Array(n) };
    this.session ??= this.backend.createSession(encodeModelProto(logitsKernelModel()), { optimization: 'basic', threads: this.threads });
    const s = await this.session;
    const per = Math.max(1, Math.floor(CHUNK_VALUES / classes));
    for (let row = 0; row < n; row += per) {
      const m = Math.min(per, n - row);
      const a = row * classes, z = a + m * classes;
      const o = await s.run({
        ref: { type: DataType.FLOAT, dims: [m, classes], data: ref.subarray(a, z) },
        test: { type: DataType.FLOAT, dims: [m, classes], data: test.subarray(a, z) },
      }, ['kl', 'ref_top', 'test_top']);
      out.kl.set(o.kl.data as Float64Array, row);
      out.refTop.set(o.ref_top.data as BigInt64Array, row);
      out.testTop.set(o.test_top.data as BigInt64Array, row);
    }
    return out;
  }

  /** Frees the session. */
  async release(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    // a session that failed to open has nothing to free (its error reached the run that asked for it)
    if (s) await s.then((x) => x.release(), () => undefined);
  }
}
