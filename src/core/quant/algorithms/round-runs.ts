/**
 * The partly quantized model's runs across sequential repair's rounds, each computing only what changed. Round r's
 * model differs from round r-1's only in round r-1's repaired layers, so every value outside their downstream part is
 * the same in both: the runs keep such values (every batch, within a byte budget) when a later round will need them,
 * and a round's session holds only the nodes between those kept values and its layers' inputs. The values are the
 * ones a run of the whole prefix gives; on a chain of rounds (a CNN, a stack of transformer blocks) the rounds cost
 * about one pass from the first round's layers to the last one's, instead of one prefix pass each.
 */
import { Graph, GraphNode } from '../../onnx/graph';
import { ModelProto, ValueInfoProto } from '../../onnx/proto';
import { createModelSession } from '../../runtime/fed-weights';
import { Tensor } from '../../onnx/tensor-data';
import { InferenceBackend } from '../../runtime/backend';

/** One round's quantized model over the calibration batches: batch `b` (the b-th of data.batches) gives the round's tensors. */
export interface QuantizedRun {
  run(b: number, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>>;
  release(): Promise<void>;
}

/** Bytes of kept values by default (every batch of each; past it, later rounds compute what they need themselves). */
const KEPT_BYTES = 512 * 2 ** 20;

const bytesOf = (t: Tensor) => (t.data as { byteLength: number }).byteLength;

/** True when every node's inputs are explicit (no If/Loop/Scan subgraphs reading outer tensors): the runs can cut the graph. */
export function cuttable(graph: Graph): boolean {
  return graph.nodes.every((n) => !(n.proto.attribute ?? []).some((a) => a.g || a.graphs?.length));
}

/** The quantized runs of sequential repair's rounds; see the module comment. */
export class RoundRuns {
  private readonly kept = new Map<string, Tensor[]>();
  private keptBytes = 0;
  /** Per round r >= 1, the nodes whose values round r-1's repairs change. */
  private readonly changed: Set<string>[];
  /** Per round r >= 1, the values outside `changed[r]` round r reads. */
  private readonly reads: Set<string>[];

  /**
   * @param graph the model's graph (node names as in every round's model)
   * @param rounds node names of each round's layers, in order
   * @param tensors each round's tensors to give (its layers' inputs; no graph inputs)
   */
  constructor(graph: Graph, rounds: readonly (readonly string[])[], private readonly tensors: readonly (readonly string[])[], private readonly maxBytes = KEPT_BYTES) {
    this.changed = rounds.map((_, r) => (r === 0 ? new Set<string>() : downstream(graph, rounds[r - 1])));
    this.reads = rounds.map((_, r) => (r === 0 ? new Set<string>() : boundary(graph, tensors[r], this.changed[r])));
  }

  /** Bytes of the values kept for later rounds now. */
  get bytes(): number { return this.keptBytes; }

  /** Opens round r's run on that round's model (same nodes as the graph's, the repaired weights so far). */
  async open(r: number, model: ModelProto, backend: InferenceBackend, o: { threads?: number } = {}): Promise<QuantizedRun> {
    const graph = new Graph(model);
    // values round r-1's repairs changed are stale
    for (const [t, v] of [...this.kept]) {
      const p = graph.producer.get(t);
      if (p && this.changed[r].has(p.name)) { this.kept.delete(t); this.keptBytes -= v.reduce((a, x) => a + bytesOf(x), 0); }
    }
    const inputNames = new Set(graph.inputs.map((i) => i.name));
    const wanted = this.tensors[r];
    const fromKept = wanted.filter((t) => this.kept.has(t));
    const computed = wanted.filter((t) => !this.kept.has(t));
    // the nodes between the graph inputs or kept values and the round's tensors
    const { nodes, stops: fed } = walkUp(graph, computed, (t) => inputNames.has(t) || this.kept.has(t));
    // values this run computes anyway that a later round reads, unchanged until then
    const produced = new Set([...nodes].flatMap((i) => graph.nodes[i].outputs).filter((t) => t));
    const keep = [...produced].filter((t) => this.readLater(r, t, graph));
    const outputs = [...new Set([...computed, ...keep])];
    // no memory arena: freed outputs and temporaries go back to the system (see gramProduct)
    const session = outputs.length ? await createModelSession(backend, subgraph(model, graph, nodes, fed, this.kept, outputs), { optimization: 'basic', threads: o.threads, arena: false }) : undefined;
    const pending = new Map<string, Tensor[]>(keep.map((t) => [t, []]));
    let pendingBytes = 0;
    let over = false;
    return {
      run: async (b, feeds) => {
        const f: Record<string, Tensor> = {};
        for (const t of fed) f[t] = inputNames.has(t) ? feeds[t] : this.kept.get(t)![b];
        const got = session ? await session.run(f, outputs) : {};
        const out: Record<string, Tensor> = {};
        for (const t of computed) out[t] = got[t];
        for (const t of fromKept) out[t] = this.kept.get(t)![b];
        if (!over) {
          for (const t of keep) { pending.get(t)![b] = got[t]; pendingBytes += bytesOf(got[t]); }
          if (this.keptBytes + pendingBytes > this.maxBytes) { over = true; pending.clear(); }
        }
        return out;
      },
      release: async () => {
        await session?.release();
        for (const [t, v] of pending) this.kept.set(t, v);
        if (!over) this.keptBytes += pendingBytes;
        // values no later round reads are let go
        for (const [t, v] of [...this.kept]) if (!this.readLater(r, t, graph)) { this.kept.delete(t); this.keptBytes -= v.reduce((a, x) => a + bytesOf(x), 0); }
      },
    };
  }

  /** True when a round after r reads t and no round in between changes it. */
  private readLater(r: number, t: string, graph: Graph): boolean {
    const p = graph.producer.get(t);
    for (let s = r + 1; s < this.reads.length; s++) {
      if (p && this.changed[s].has(p.name)) return false;
      if (this.reads[s].has(t)) return true;
    }
    return false;
  }
}

/** Names of the nodes reached from these nodes' outputs, themselves included. */
function downstream(graph: Graph, names: readonly string[]): Set<string> {
  const out = new Set<string>(names);
  const stack = [...names];
  while (stack.length) {
    const n = graph.byName.get(stack.pop()!);
    for (const t of n?.outputs ?? []) for (const c of graph.consumers.get(t) ?? []) if (!out.has(c.name)) { out.add(c.name); stack.push(c.name); }
  }
  return out;
}

/** The values computing `tensors` reads from outside the changed nodes (not initializers or graph inputs). */
function boundary(graph: Graph, tensors: readonly string[], changed: ReadonlySet<string>): Set<string> {
  return walkUp(graph, tensors, (_t, p) => !!p && !changed.has(p.name)).stops;
}

/** Walks from `tensors` up through their producers; a tensor `stop` accepts is collected instead of computed. */
function walkUp(graph: Graph, tensors: readonly string[], stop: (t: string, producer: GraphNode | undefined) => boolean): { nodes: Set<number>; stops: Set<string> } {
  const nodes = new Set<number>(), stops = new Set<string>(), seen = new Set<string>();
  const stack = [...tensors];
  while (stack.length) {
    const t = stack.pop()!;
    if (!t || seen.has(t)) continue;
    seen.add(t);
    const p = graph.producer.get(t);
    if (stop(t, p)) { stops.add(t); continue; }
    if (!p || nodes.has(p.index)) continue;
    nodes.add(p.index);
    stack.push(...p.inputs);
  }
  return { nodes, stops };
}

/** The model of these nodes, fed the graph inputs and kept values in `fed`, giving `outputs`. */
function subgraph(model: ModelProto, graph: Graph, nodes: ReadonlySet<number>, fed: ReadonlySet<string>, kept: ReadonlyMap<string, Tensor[]>, outputs: readonly string[]): ModelProto {
  const g = model.graph!;
  const list = [...nodes].sort((a, b) => a - b).map((i) => graph.nodes[i]);
  const used = new Set(list.flatMap((n) => n.inputs));
  const declared = new Map((g.input ?? []).map((v) => [v.name ?? '', v]));
  const input: ValueInfoProto[] = [...fed].map((t) => declared.get(t) ?? keptInfo(t, kept.get(t)!));
  const valueInfo = (g.value_info ?? []).filter((v) => !fed.has(v.name ?? ''));
  return {
    ...model,
    graph: { ...g, node: list.map((n) => n.proto), input, initializer: (g.initializer ?? []).filter((t) => used.has(t.name ?? '')), output: outputs.map((name) => ({ name })), value_info: valueInfo },
  };
}

/** A graph input for a kept value: its element type, and its dims where every batch has the same (others symbolic). */
function keptInfo(name: string, values: readonly Tensor[]): ValueInfoProto {
  const first = values[0];
  const dim = first.dims.map((d, i) => (values.every((v) => v.dims[i] === d) ? { dim_value: d } : { dim_param: `${name}_${i}` }));
  return { name, type: { tensor_type: { elem_type: first.type, shape: { dim } } } };
}
