/**
 * Several training steps per session run: the step graph becomes the body of an ONNX Loop whose carried
 * values are the parameters, optimizer state and learned scales; per-step inputs (batch, labels, learning
 * rate) are stacked on a leading axis and gathered by the iteration number. Weights then stay inside the
 * run for K steps instead of being copied out and in at every step.
 */
import { GraphBuilder, makeAttribute, makeValueInfo } from '../onnx/builder';
import { DataType, GraphProto, ModelProto, ValueInfoProto } from '../onnx/proto';
import { OPT_INPUTS } from './optimizer';
import { TrainStepGraph } from './train-step';

/** Names of the looped model's inputs and outputs. */
export interface LoopStepGraph {
  model: ModelProto;
  /** Per-step inputs of the step graph and the stacked inputs feeding them ([steps, ...]). */
  perStep: { name: string; seq: string }[];
  /** Trip count input (int64 scalar). */
  trips: string;
  /** Carried values: step-graph input name, outer input with the initial value, loop output with the final value. */
  carried: { name: string; init: string; final: string }[];
  /** Stacked per-step outputs. */
  losses: string;
  logits: string;
  gradNorms: string;
}

/** Wraps a training step in a Loop running a variable number of steps per run. */
export function loopTrainStep(step: TrainStepGraph): LoopStepGraph {
  const g = step.model.graph!;
  const inputInfo = new Map((g.input ?? []).map((v) => [v.name!, v]));
  const learned = step.scales.map((s, i) => [s, step.newScales[i]] as const).filter(([, n]) => n !== undefined) as [string, string][];
  const carriedPairs: [string, string][] = [
    ...step.params.map((p, i) => [p, step.newParams[i]] as [string, string]),
    ...step.state.map((s, i) => [s, step.newState[i]] as [string, string]),
    ...learned,
  ];
  const carriedSet = new Set(carriedPairs.map(([n]) => n));
  const perStepNames = [...step.dataInputs, step.labels, step.teacher, OPT_INPUTS.lr, OPT_INPUTS.bc1, OPT_INPUTS.bc2].filter((n): n is string => !!n && inputInfo.has(n));
  const fixed = (g.input ?? []).filter((v) => !carriedSet.has(v.name!) && !perStepNames.includes(v.name!));
  // Body.
  const iter = 'loop__iter', condIn = 'loop__cond_in', condOut = 'loop__cond_out';
  const body: GraphProto = {
    name: 'train_step_body',
    input: [makeValueInfo(iter, DataType.INT64, []), makeValueInfo(condIn, DataType.BOOL, []), ...carriedPairs.map(([n]) => inputInfo.get(n)!)],
    output: [
      makeValueInfo(condOut, DataType.BOOL, []),
      ...carriedPairs.map(([n, out]) => ({ ...typeOf(inputInfo.get(n)!), name: out })),
      makeValueInfo(step.loss, DataType.FLOAT), makeValueInfo(step.logits, DataType.FLOAT), makeValueInfo(step.gradNorm, DataType.FLOAT),
    ],
    node: [
      { op_type: 'Identity', input: [condIn], output: [condOut], name: 'loop__cond_identity', domain: '' },
      ...perStepNames.map((n) => ({ op_type: 'Gather', input: [`${n}__seq`, iter], output: [n], name: `loop__gather_${n}`, domain: '', attribute: [makeAttribute('axis', 0)] })),
      ...(g.node ?? []),
    ],
    initializer: g.initializer ?? [],
  };
  // Outer graph.
  const b = new GraphBuilder('quantlens_train_loop', 'loop_outer__');
  const perStep = perStepNames.map((n) => {
    const info = inputInfo.get(n)!;
    const dims = info.type?.tensor_type?.shape?.dim?.map((d) => Number(d.dim_value)) ?? [];
    b.input(`${n}__seq`, info.type!.tensor_type!.elem_type as DataType, ['steps', ...dims]);
    return { name: n, seq: `${n}__seq` };
  });
  for (const f of fixed) b.inputs.push(f);
  const trips = b.input('loop__trips', DataType.INT64, []);
  const carried = carriedPairs.map(([n]) => {
    const info = inputInfo.get(n)!;
    b.inputs.push({ ...info, name: `${n}__init` });
    return { name: n, init: `${n}__init`, final: `${n}__final` };
  });
  const one = b.constInt64('loop__one', [1], []);
  const cond = b.node('Cast', [one], { to: DataType.BOOL });
  const losses = 'loop__losses', logits = 'loop__logits', gradNorms = 'loop__grad_norms';
  b.nodeMulti('Loop', [trips, cond, ...carried.map((c) => c.init)], [...carried.map((c) => c.final), losses, logits, gradNorms], { body }, { name: 'train_loop' });
  for (const c of carried) b.outputs.push({ ...inputInfo.get(c.name)!, name: c.final });
  b.output(losses, DataType.FLOAT);
  b.output(logits, DataType.FLOAT);
  b.output(gradNorms, DataType.FLOAT);
  const model = { ...step.model, graph: b.graph() };
  return { model, perStep, trips, carried, losses, logits, gradNorms };
}

function typeOf(v: ValueInfoProto): ValueInfoProto {
  return { type: v.type };
}
