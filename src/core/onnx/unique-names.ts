/** Fresh tensor and node names for nodes added to a model (probes, reductions): none collides with the model's own. */
import { ModelProto } from './proto';

/** A namer: `base`, or `base_1`, `base_2`, ... for the first name not taken by the model's graph or an earlier call. */
export function uniqueNamer(model: ModelProto): (base: string) => string {
  const g = model.graph ?? {};
  const taken = new Set<string>([...(g.input ?? []).map((i) => i.name ?? ''), ...(g.initializer ?? []).map((t) => t.name ?? '')]);
  for (const n of g.node ?? []) { taken.add(n.name ?? ''); for (const t of [...(n.input ?? []), ...(n.output ?? [])]) taken.add(t); }
  return (base) => { let name = base; for (let k = 1; taken.has(name); k++) name = `${base}_${k}`; taken.add(name); return name; };
}
