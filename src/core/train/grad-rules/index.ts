/** The registry of gradient rules by ONNX op type, and the ops that carry no gradient. */
import { GradRule } from '../grad-context';
import { activationRules } from './activations';
import { convRules } from './conv';
import { elementwiseRules } from './elementwise';
import { linearRules } from './linear';
import { normRules } from './norm';
import { poolRules } from './pool';
import { selectRules } from './select';
import { shapeRules } from './shape-ops';

/** Gradient rules of the default ONNX domain. */
export const GRAD_RULES: Record<string, GradRule> = {
  ...elementwiseRules, ...activationRules, ...linearRules, ...convRules, ...poolRules, ...normRules, ...shapeRules, ...selectRules,
};

/** Ops whose outputs never carry a gradient (integer, boolean or piecewise-constant results). */
export const NON_DIFFERENTIABLE = new Set([
  'Shape', 'Size', 'ArgMax', 'ArgMin', 'Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'Not', 'And', 'Or', 'Xor',
  'NonZero', 'ConstantOfShape', 'Range', 'Floor', 'Ceil', 'Round', 'Sign', 'IsNaN', 'IsInf', 'TopK_indices', 'OneHot', 'RandomNormal',
  'RandomUniform', 'RandomNormalLike', 'RandomUniformLike', 'Constant', 'QuantizeLinear',
]);
