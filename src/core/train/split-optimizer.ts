/**
 * The optimizer outside the step graph, for models whose trained state is large: the step graph outputs the gradients
 * and their global norm, and the update runs group by group (the same flat groups and nodes as the fused update,
 * optimizer.ts) in a small session of its own, writing the new values and optimizer state into the arrays JavaScript
 * holds. At the end of a step only the state and the gradients are alive, not the old state, ONNX Runtime's new state
 * and its JavaScript copy together (ViT-B/16: README "Scale"). ONNX Runtime writes the new values and state over the
 * arrays it reads them from: it allocates no weight-sized output per group and step (onnxruntime-node 1.30 still returns
 * a copy of each, dropped here: bench/ort-output-copy.bench.ts).
 */
import { GraphBuilder } from '../onnx/builder';
import { DataType } from '../onnx/proto';
import { sizeOf, Tensor } from '../onnx/tensor-data';
import { InferenceBackend, RuntimeSession } from '../runtime/backend';
import { GradContext } from './grad-context';
import { createProtoSession } from '../runtime/proto-session';
import {
  AdamBias, clampKind, clampValues, emitClipFactor, emitGroupUpdate, groupStateNames, OPT_CHUNK_VALUES, OPT_INPUTS, OptimizerEntry,
  OptimizerGroup, optimizerGroups, OptimizerSpec,
} from './optimizer';

/** Trained values from which QAT runs the optimizer in its own session (QatOptions.separateOptimizer): ViT-B/16 (86M) does, resnet50 (26M) does not. */
export const SEPARATE_OPTIMIZER_VALUES = 50_000_000;

/** Input names of the optimizer session. */
const IN = { p: 'opt__p', g: 'opt__g', norm: 'opt__grad_norm', min: 'opt__min', max: 'opt__max' } as const;

/** The update of one kind of group (decayed weights, other weights, scales with given bounds) over a flat vector of any length. */
interface UpdateGraph {
  session: RuntimeSession;
  state: string[];
  np: string;
  newState: string[];
}

/** A group with the session updating it and the names of its state. */
interface Slot {
  group: OptimizerGroup;
  graph: string;
  state: string[];
  clamp: { min?: Float32Array; max?: Float32Array };
}

/** Runs the optimizer group by group in its own session on the values JavaScript holds (see the file comment). */
export class SplitOptimizer {
  private constructor(
    private readonly spec: OptimizerSpec,
    private readonly entries: readonly OptimizerEntry[],
    private readonly slots: Slot[],
    private readonly graphs: Map<string, UpdateGraph>,
  ) {}

  /** Builds the update sessions for `entries` (their `grad` names the step graph's gradient outputs). */
  static async create(backend: InferenceBackend, threads: number, spec: OptimizerSpec, entries: readonly OptimizerEntry[], chunkValues = OPT_CHUNK_VALUES): Promise<SplitOptimizer> {
    const graphs = new Map<string, UpdateGraph>();
    const slots: Slot[] = [];
    for (const group of optimizerGroups(entries, chunkValues)) {
      const es = group.entries.map((i) => entries[i]);
      const min = clampKind(es, 'min'), max = clampKind(es, 'max');
      const kind = group.key.replace(/_\d+$/, '');
      const sig = `${kind}|${min}|${max}`;
      if (!graphs.has(sig)) graphs.set(sig, await buildUpdate(backend, threads, spec, group, entries, min === 'vector', max === 'vector'));
      slots.push({
        group, graph: sig, state: groupStateNames(spec, group.key),
        clamp: { min: min === 'vector' ? clampValues(es, 'min') : undefined, max: max === 'vector' ? clampValues(es, 'max') : undefined },
      });
    }
    return new SplitOptimizer(spec, entries, slots, graphs);
  }

  /** The optimizer state tensors (flat, one per group and kind of state; zeros at the start). */
  get state(): { name: string; dims: number[] }[] {
    return this.slots.flatMap((s) => s.state.map((name) => ({ name, dims: [s.group.values] })));
  }

  /**
   * Updates `values` (entries and state, by name) in place from the step's outputs `out` (gradients by output name,
   * consumed: each is dropped from `out` once used), the global gradient norm and this step's scalar inputs.
   */
  async update(values: Map<string, Float32Array>, out: Record<string, Tensor>, gradNorm: number, scalars: { lr: number; bc1?: number; bc2?: number }): Promise<void> {
    const scalar = (v: number): Tensor => ({ type: DataType.FLOAT, dims: [], data: Float32Array.of(v) });
    const common: Record<string, Tensor> = { [OPT_INPUTS.lr]: scalar(scalars.lr) };
    if (this.spec.kind !== 'sgd') { common[OPT_INPUTS.bc1] = scalar(scalars.bc1!); common[OPT_INPUTS.bc2] = scalar(scalars.bc2!); }
    if (this.spec.clipNorm && this.spec.clipNorm > 0) common[IN.norm] = scalar(gradNorm);
    let scratch: { p: Float32Array; g: Float32Array } | undefined;
    for (const slot of this.slots) {
      const n = slot.group.values;
      const es = slot.group.entries.map((i) => this.entries[i]);
      if (es.length > 1 && (!scratch || scratch.p.length < n)) scratch = { p: new Float32Array(n), g: new Float32Array(n) };
      const p = flat(es.map((e) => values.get(e.name)!), scratch?.p.subarray(0, n) ?? new Float32Array(0));
      const g = flat(es.map((e) => out[e.grad].data as Float32Array), scratch?.g.subarray(0, n) ?? new Float32Array(0));
      const u = this.graphs.get(slot.graph)!;
      const feeds: Record<string, Tensor> = { ...common, [IN.p]: { type: DataType.FLOAT, dims: [n], data: p }, [IN.g]: { type: DataType.FLOAT, dims: [n], data: g } };
      slot.state.forEach((name, k) => { feeds[u.state[k]] = { type: DataType.FLOAT, dims: [n], data: values.get(name)! }; });
      if (slot.clamp.min) feeds[IN.min] = { type: DataType.FLOAT, dims: [n], data: slot.clamp.min };
      if (slot.clamp.max) feeds[IN.max] = { type: DataType.FLOAT, dims: [n], data: slot.clamp.max };
      // new values and state written over the inputs they replace: every read of an input is an ancestor of the node
      // writing its replacement (emitGroupUpdate), and elementwise kernels read each element before writing it
      const into: Record<string, Tensor> = { [u.np]: feeds[IN.p] };
      slot.state.forEach((_, k) => { into[u.newState[k]] = feeds[u.state[k]]; });
      await u.session.run(feeds, [u.np, ...u.newState], into);
      for (const e of es) delete out[e.grad];
      if (es.length === 1) continue;
      let off = 0;
      for (const e of es) { const size = sizeOf(e.dims); values.get(e.name)!.set(p.subarray(off, off + size)); off += size; }
    }
  }

  /** Frees the sessions. */
  async release(): Promise<void> {
    for (const g of this.graphs.values()) await g.session.release();
  }
}

/** One array as is, or several copied one after the other into `into`. */
function flat(arrays: Float32Array[], into: Float32Array): Float32Array {
  if (arrays.length === 1) return arrays[0];
  let off = 0;
  for (const a of arrays) { into.set(a, off); off += a.length; }
  return into;
}

/** The update graph of groups like `group` over a flat vector of symbolic length, and its session. */
async function buildUpdate(backend: InferenceBackend, threads: number, spec: OptimizerSpec, group: OptimizerGroup, entries: readonly OptimizerEntry[], minInput: boolean, maxInput: boolean): Promise<UpdateGraph> {
  const b = new GraphBuilder('quantlens_optimizer');
  const ctx = new GradContext(b, DataType.FLOAT, new Map(), new Set(), () => undefined);
  const n = ['n'];
  b.input(IN.p, DataType.FLOAT, n);
  b.input(IN.g, DataType.FLOAT, n);
  const state = groupStateNames(spec, 'group').map((name) => b.input(name, DataType.FLOAT, n));
  b.input(OPT_INPUTS.lr, DataType.FLOAT, []);
  if (spec.kind !== 'sgd') { b.input(OPT_INPUTS.bc1, DataType.FLOAT, []); b.input(OPT_INPUTS.bc2, DataType.FLOAT, []); }
  const clip = spec.clipNorm && spec.clipNorm > 0 ? b.input(IN.norm, DataType.FLOAT, []) : undefined;
  const factor = clip ? emitClipFactor(ctx, spec, clip) : undefined;
  const clampInputs = { min: minInput ? b.input(IN.min, DataType.FLOAT, n) : undefined, max: maxInput ? b.input(IN.max, DataType.FLOAT, n) : undefined };
  const bias: { value?: AdamBias } = {};
  const u = emitGroupUpdate(ctx, spec, group, entries, IN.p, IN.g, state, factor, bias, clampInputs);
  for (const t of [u.np, ...u.newState]) b.output(t, DataType.FLOAT, n);
  const session = await createProtoSession(backend, b.model(17), { threads });
  return { session, state, np: u.np, newState: u.newState };
}
