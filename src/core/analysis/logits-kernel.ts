/** Per-row KL(softmax(ref) || softmax(test)) and both argmaxes of many-class logits, computed in float64 by ONNX Runtime. */
import { GraphBuilder } from '../onnx/builder';
import { DataType, ModelProto } from '../onnx/proto';
import { InferenceBackend, RuntimeSession } from '../runtime/backend';
import { createProtoSession } from '../runtime/proto-session';

/** log(1e-12): test probabilities are floored at 1e-12, as in logitsKl and the probability form. */
const LOG_FLOOR = Math.log(1e-12);

/**
 * The reference pass: per row lse = max + log Σ exp(x − max) in float64 (as logitsKl) and the argmax of the float32
 * values (first index of the maximum, as the JS scan). Rows × classes, symbolic rows.
 */
export function referenceModel(): ModelProto {
  const b = new GraphBuilder('logits_ref');
  const ref = b.input('ref', DataType.FLOAT, ['N', 'C']);
  const axes = b.constInt64('axes', [-1]);
  const r = b.node('Cast', [ref], { to: DataType.DOUBLE });
  const m = b.node('Cast', [b.node('ReduceMax', [ref, axes], { keepdims: 1 })], { to: DataType.DOUBLE });
  const s = b.node('ReduceSum', [b.node('Exp', [b.node('Sub', [r, m])]), axes], { keepdims: 1 });
  b.output(b.node('Add', [m, b.node('Log', [s])], {}, { output: 'lse' }), DataType.DOUBLE, ['N', 1]);
  b.output(b.node('ArgMax', [ref], { axis: -1, keepdims: 0, select_last_index: 0 }, { output: 'ref_top' }), DataType.INT64, ['N']);
  return b.model(18);
}

/**
 * The test pass, given the reference's lse per row: log p = ref − lse, log q = max(LogSoftmax(test), log 1e-12),
 * KL = Σ exp(log p)·(log p − log q) per row, all in float64; and the test argmax. One exp per value of each side.
 * log p is clamped to the lowest finite double in the difference so that a class the reference rules out (−∞ logit,
 * p = 0) adds nothing, as logitsKl skips it, instead of 0·−∞ = NaN.
 */
export function testModel(): ModelProto {
  const b = new GraphBuilder('logits_kl');
  const ref = b.input('ref', DataType.FLOAT, ['N', 'C']);
  const test = b.input('test', DataType.FLOAT, ['N', 'C']);
  const lse = b.input('lse', DataType.DOUBLE, ['N', 1]);
  const axes = b.constInt64('axes', [-1]);
  const floor = b.initializer('log_floor', { type: DataType.DOUBLE, dims: [], data: Float64Array.of(LOG_FLOOR) });
  const lp = b.node('Sub', [b.node('Cast', [ref], { to: DataType.DOUBLE }), lse]);
  const lowest = b.initializer('lowest', { type: DataType.DOUBLE, dims: [], data: Float64Array.of(-Number.MAX_VALUE) });
  const lq = b.node('Max', [b.node('LogSoftmax', [b.node('Cast', [test], { to: DataType.DOUBLE })], { axis: -1 }), floor]);
  b.output(b.node('ReduceSum', [b.node('Mul', [b.node('Exp', [lp]), b.node('Sub', [b.node('Max', [lp, lowest]), lq])]), axes], { keepdims: 0 }, { output: 'kl' }), DataType.DOUBLE, ['N']);
  b.output(b.node('ArgMax', [test], { axis: -1, keepdims: 0, select_last_index: 0 }, { output: 'test_top' }), DataType.INT64, ['N']);
  return b.model(18);
}

/** Per-row results of a block of rows. */
export interface RowMetrics {
  kl: Float64Array;
  refTop: BigInt64Array;
  testTop: BigInt64Array;
}

/** What the reference pass gives per row. */
interface ReferenceRows {
  lse: Float64Array;
  top: BigInt64Array;
}

/** Values per run of a session: bounds its float64 temporaries while keeping runs long next to their overhead. */
const CHUNK_VALUES = 1 << 18;

/**
 * The two sessions, opened on first use and freed by release() (a later use opens them again), and the reference
 * rows already seen under a key (the whole-model configurations all compare against the same cached float outputs).
 */
export class LogitsKernel {
  private refSession?: Promise<RuntimeSession>;
  private testSession?: Promise<RuntimeSession>;
  private readonly refs = new Map<string, ReferenceRows>();

  constructor(private readonly backend: InferenceBackend) {}

  private open(model: () => ModelProto): Promise<RuntimeSession> {
    // One thread: ORT's float64 Exp/LogSoftmax run on one core anyway, and a second thread only spins (the KL graph
    // took 18 ns of CPU per value on one thread, 32 on two, for the same wall time: 50,257 classes, 2 cores).
    return createProtoSession(this.backend, model(), { optimization: 'basic', threads: 1 });
  }

  /**
   * KL and argmaxes of each row of `ref`/`test` (rows of `classes` values), in chunks of rows. `refKey` names the
   * reference values: rows under a key seen before reuse its lse and argmax (the caller keeps a key to one content).
   */
  async rows(ref: Float32Array, test: Float32Array, classes: number, refKey?: string): Promise<RowMetrics> {
    const n = ref.length / classes;
    const per = Math.max(1, Math.floor(CHUNK_VALUES / classes));
    const slice = (x: Float32Array, row: number, m: number) => ({ type: DataType.FLOAT, dims: [m, classes], data: x.subarray(row * classes, (row + m) * classes) });
    let r = refKey === undefined ? undefined : this.refs.get(refKey);
    if (!r || r.lse.length !== n) {
      this.refSession ??= this.open(referenceModel);
      const s = await this.refSession;
      r = { lse: new Float64Array(n), top: new BigInt64Array(n) };
      for (let row = 0; row < n; row += per) {
        const m = Math.min(per, n - row);
        const o = await s.run({ ref: slice(ref, row, m) }, ['lse', 'ref_top']);
        r.lse.set(o.lse.data as Float64Array, row);
        r.top.set(o.ref_top.data as BigInt64Array, row);
      }
      if (refKey !== undefined) this.refs.set(refKey, r);
    }
    this.testSession ??= this.open(testModel);
    const s = await this.testSession;
    const out: RowMetrics = { kl: new Float64Array(n), refTop: r.top, testTop: new BigInt64Array(n) };
    for (let row = 0; row < n; row += per) {
      const m = Math.min(per, n - row);
      const o = await s.run({ ref: slice(ref, row, m), test: slice(test, row, m), lse: { type: DataType.DOUBLE, dims: [m, 1], data: r.lse.subarray(row, row + m) } }, ['kl', 'test_top']);
      out.kl.set(o.kl.data as Float64Array, row);
      out.testTop.set(o.test_top.data as BigInt64Array, row);
    }
    return out;
  }

  /** Frees the sessions and forgets the reference rows. */
  async release(): Promise<void> {
    const sessions = [this.refSession, this.testSession];
    this.refSession = this.testSession = undefined;
    this.refs.clear();
    // a session that failed to open has nothing to free (its error reached the run that asked for it)
    for (const s of sessions) if (s) await s.then((x) => x.release(), () => undefined);
  }
}
